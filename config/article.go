package config

import "strings"

// A reports word with its indefinite article, "a kernel", "an initramfs", "an image", as
// the messages that name a kind, a type or an output need it. A leading quote is
// looked through ("an \"iso\""); "uki" is said you-key ("a uki").
func A(word string) string {
	w := strings.ToLower(strings.TrimLeft(word, `"`))
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) && !strings.HasPrefix(w, "uki") && !strings.HasPrefix(w, "uni") {
		return "an " + word
	}
	return "a " + word
}
