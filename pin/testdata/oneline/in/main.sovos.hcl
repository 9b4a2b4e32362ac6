# Images, some written on one line.
image "one" { ref = "r.invalid/one:v1" }   # the first

image "two" {
  ref = "r.invalid/two:v1"
}

image "three" {ref="r.invalid/three:v1"}
