module github.com/edgeless-go/edgeless/examples

go 1.26.0

require (
	github.com/edgeless-go/edgeless/function-template v0.0.0
	github.com/edgeless-go/edgeless/gen v0.0.0
	github.com/google/go-cmp v0.7.0
)

require (
	connectrpc.com/connect v1.21.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/edgeless-go/edgeless/function-template => ../function-template
	github.com/edgeless-go/edgeless/gen => ../gen
)
