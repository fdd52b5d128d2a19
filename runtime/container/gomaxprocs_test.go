package container

import "testing"

func TestGoMaxProcs(t *testing.T) {
	for _, tc := range []struct {
		nano int64
		want int
	}{
		{0, 0}, {-1, 0}, {1, 1}, {5e8, 1}, {1e9, 1}, {1e9 + 1, 2}, {2.5e9, 3}, {4e9, 4},
	} {
		if got := goMaxProcs(tc.nano); got != tc.want {
			t.Errorf("goMaxProcs(%d) = %d, want %d", tc.nano, got, tc.want)
		}
	}
}
