image "six" { ref = "r.invalid/six:v1" }
# after six
