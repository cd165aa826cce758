package pymatrix

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRequiredParsesSeparators(t *testing.T) {
	t.Setenv("PIPEBRIDGE_REQUIRE_PYTHONS", " 2.7 3.6,3.13\t3.8:3.12 ")
	assert.Equal(t, []string{"2.7", "3.6", "3.13", "3.8", "3.12"}, Required())
	t.Setenv("PIPEBRIDGE_REQUIRE_PYTHONS", "")
	assert.Empty(t, Required())
}

func TestProtocolsByVersion(t *testing.T) {
	cases := []struct {
		major, minor       int
		defaultP, highestP int
	}{
		{2, 7, 2, 2},
		{3, 6, 3, 4},
		{3, 7, 3, 4},
		{3, 8, 4, 5},
		{3, 13, 4, 5},
		{3, 14, 5, 5},
	}
	for _, c := range cases {
		p := Interpreter{Major: c.major, Minor: c.minor}
		assert.Equal(t, c.defaultP, p.DefaultProtocol(), "%d.%d default", c.major, c.minor)
		assert.Equal(t, c.highestP, p.HighestProtocol(), "%d.%d highest", c.major, c.minor)
	}
}

func TestProbeReportsRealInterpreters(t *testing.T) {
	// Find, not All: with PIPEBRIDGE_REQUIRE_PYTHONS set, an empty or short
	// discovery fails here instead of skipping the one test of discovery.
	all := Find(t)
	for _, p := range all {
		assert.NotEmpty(t, p.Path)
		assert.Regexp(t, `^\d+\.\d+\.\d+$`, p.Version)
		assert.Equal(t, p.Short(), p.Version[:len(p.Short())])
	}
	// Sorted oldest first, one per version.
	for i := 1; i < len(all); i++ {
		assert.True(t, all[i].AtLeast(all[i-1].Major, all[i-1].Minor))
		assert.NotEqual(t, all[i].Version, all[i-1].Version)
	}
}

func TestProbeRejectsNonPython(t *testing.T) {
	_, err := probe("/bin/false")
	assert.Error(t, err)
	_, err = probe("/nonexistent/python")
	assert.Error(t, err)
}
