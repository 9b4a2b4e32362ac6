package config

import "testing"

func TestA(t *testing.T) {
	for word, want := range map[string]string{
		"kernel": "a kernel", "initramfs": "an initramfs", "image": "an image", "installer": "an installer",
		"extension": "an extension", "uki": "a uki", `"iso"`: `an "iso"`, `"uki"`: `a "uki"`, "object": "an object",
		"map of string": "a map of string", "source": "a source",
	} {
		if got := A(word); got != want {
			t.Errorf("A(%q) = %q, want %q", word, got, want)
		}
	}
}
