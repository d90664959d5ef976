package diskspace

import "testing"

func TestOf(t *testing.T) {
	free, size, err := Of(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if size == 0 || free > size {
		t.Fatalf("free %d of %d", free, size)
	}
	if _, _, err := Of(t.TempDir() + "/missing"); err == nil {
		t.Fatal("a missing directory has no free space")
	}
}
