package pickle_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pipebridge/pipebridge/pickle"
)

// A Python dataclass decodes into a Go struct, and the struct encodes as an
// instance of the dataclass, which Python rebuilds with nothing but its own
// class. The Python side:
//
//	@dataclasses.dataclass
//	class Order:            # in module shop
//	    id: int
//	    customer: str
//	    items: list
//	    total: decimal.Decimal
//	    placed: datetime.datetime
//
//	pickle.dumps(Order(7, 'ada', ['tea', 'cake'], Decimal('4.50'),
//	                   datetime(2024, 5, 6, 7, 8, 9)), 4)
func ExampleRegistry_dataclass() {
	type Order struct {
		ID       int            `pickle:"id"`
		Customer string         `pickle:"customer"`
		Items    []string       `pickle:"items"`
		Total    pickle.Decimal `pickle:"total"`
		Placed   time.Time      `pickle:"placed"`
	}
	reg := pickle.NewRegistry() // or pickle.Register, in an init function
	if err := reg.Register("shop", "Order", Order{}, pickle.ObjectForm); err != nil {
		log.Fatal(err)
	}
	data := []byte("\x80\x04\x95\xa6\x00\x00\x00\x00\x00\x00\x00\x8c\x04shop\x94\x8c\x05Order\x94\x93\x94)\x81\x94}\x94(\x8c\x02id\x94K\x07\x8c\x08customer\x94\x8c\x03ada\x94\x8c\x05items\x94]\x94(\x8c\x03tea\x94\x8c\x04cake\x94e\x8c\x05total\x94\x8c\x07decimal\x94\x8c\x07Decimal\x94\x93\x94\x8c\x044.50\x94\x85\x94R\x94\x8c\x06placed\x94\x8c\x08datetime\x94\x8c\x08datetime\x94\x93\x94C\x0a\x07\xe8\x05\x06\x07\x08\x09\x00\x00\x00\x94\x85\x94R\x94ub.")

	var o Order
	if err := (pickle.DecodeOptions{Registry: reg}).Unmarshal(data, &o); err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.ID, o.Customer, o.Items, o.Total, o.Placed.Format(time.DateTime))

	// Back to Python: shop.Order.__new__(shop.Order), then its __dict__.
	o.Items = append(o.Items, "jam")
	out, err := pickle.EncodeOptions{Registry: reg}.Marshal(o)
	if err != nil {
		log.Fatal(err)
	}
	var v any
	if err := pickle.Unmarshal(out, &v); err != nil {
		log.Fatal(err)
	}
	obj := v.(*pickle.Object)
	class, _ := obj.Class()
	fmt.Println(class, obj.State.(*pickle.Dict).Keys())
	// Output:
	// 7 ada [tea cake] 4.50 2024-05-06 07:08:09
	// shop.Order [id customer items total placed]
}

// A namedtuple decodes into a struct field by field in order, and the
// struct encodes as the namedtuple. The Python side:
//
//	Point = collections.namedtuple('Point', 'x y')   # in module shop
//	pickle.dumps([Point(1, 2), Point(-3, 4)], 4)
func ExampleRegistry_namedtuple() {
	type Point struct{ X, Y int }
	reg := pickle.NewRegistry()
	if err := reg.Register("shop", "Point", Point{}, pickle.TupleForm); err != nil {
		log.Fatal(err)
	}
	data := []byte("\x80\x04\x95+\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x04shop\x94\x8c\x05Point\x94\x93\x94K\x01K\x02\x86\x94\x81\x94h\x03J\xfd\xff\xff\xffK\x04\x86\x94\x81\x94e.")

	var pts []Point
	if err := (pickle.DecodeOptions{Registry: reg}).Unmarshal(data, &pts); err != nil {
		log.Fatal(err)
	}
	fmt.Println(pts)

	// Point.__new__(Point, 5, 6), which Python's namedtuple takes.
	out, err := pickle.EncodeOptions{Registry: reg}.Marshal(Point{5, 6})
	if err != nil {
		log.Fatal(err)
	}
	var v any
	_ = pickle.Unmarshal(out, &v)
	fmt.Println(v)
	// Output:
	// [{1 2} {-3 4}]
	// shop.Point.__new__[5 6]
}

// An error names the Go field and the Python type.
func ExampleUnmarshalTypeError() {
	type Order struct {
		Qty int `pickle:"qty"`
	}
	data, _ := pickle.Marshal(map[string]any{"qty": "three"})
	var o Order
	err := pickle.Unmarshal(data, &o)
	fmt.Println(err)
	var te *pickle.UnmarshalTypeError
	if errors.As(err, &te) {
		fmt.Println(te.Path, te.Python, te.Type)
	}
	// Output:
	// pickle: cannot unmarshal Python str into Go field Order.Qty of type int
	// Order.Qty str int
}

// Struct fields default to their Go names; Python's snake_case keys find
// them without tags, and unknown keys can be kept.
func ExampleUnmarshal_struct() {
	type User struct {
		UserID int
		Name   string         `pickle:"display_name"`
		Rest   map[string]any `pickle:",extra"`
	}
	// pickle.dumps({'user_id': 1, 'display_name': 'ada', 'admin': True})
	data, _ := pickle.Marshal(map[string]any{"user_id": 1, "display_name": "ada", "admin": true})
	var u User
	if err := pickle.Unmarshal(data, &u); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", u)
	// Output: {UserID:1 Name:ada Rest:map[admin:true]}
}

// Money reduces itself to a call of a Python class, shop.Money(cents,
// currency), and rebuilds itself from one.
type Money struct {
	Cents    int64
	Currency string
}

// MarshalPickle returns the call that Python makes to rebuild the value.
func (m Money) MarshalPickle() (any, error) {
	return &pickle.Object{Callable: pickle.Global{Module: "shop", Name: "Money"}, Args: pickle.Tuple{m.Cents, m.Currency}}, nil
}

// UnmarshalPickle reads that call back.
func (m *Money) UnmarshalPickle(v any) error {
	o, ok := v.(*pickle.Object)
	if !ok || len(o.Args) != 2 {
		return fmt.Errorf("not a shop.Money: %v", v)
	}
	if class, _ := o.Class(); class != (pickle.Global{Module: "shop", Name: "Money"}) {
		return fmt.Errorf("not a shop.Money: %v", class)
	}
	if err := pickle.Convert(o.Args[0], &m.Cents); err != nil {
		return err
	}
	return pickle.Convert(o.Args[1], &m.Currency)
}

// A type chooses its own Python form with MarshalPickle and
// UnmarshalPickle, as json.Marshaler and json.Unmarshaler do for JSON.
func ExampleUnmarshaler() {
	type Invoice struct {
		Total Money `pickle:"total"`
	}
	data, err := pickle.Marshal(Invoice{Money{450, "EUR"}})
	if err != nil {
		log.Fatal(err)
	}
	var v any
	_ = pickle.Unmarshal(data, &v)
	fmt.Println(v) // what Python receives: shop.Money(450, 'EUR') in a dict

	var back Invoice
	if err := pickle.Unmarshal(data, &back); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", back)
	// Output:
	// {total: shop.Money[450 EUR]}
	// {Total:{Cents:450 Currency:EUR}}
}
