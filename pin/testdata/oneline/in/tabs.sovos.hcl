image "four" {
	ref    = "r.invalid/four:v1"
	digest = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
}

image "five" { ref = "r.invalid/five:v1" /* pinned weekly */ }
