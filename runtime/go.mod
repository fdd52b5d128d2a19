module github.com/edgeless-go/edgeless/runtime

go 1.26.0

require github.com/edgeless-go/edgeless/gen v0.0.0

replace github.com/edgeless-go/edgeless/gen => ../gen
