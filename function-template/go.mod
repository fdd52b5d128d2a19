module github.com/edgeless-go/edgeless/function-template

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/edgeless-go/edgeless/gen v0.0.0
	github.com/google/uuid v1.6.0
	google.golang.org/protobuf v1.36.12
)

replace github.com/edgeless-go/edgeless/gen => ../gen
