// Package proto holds the cyxwiz.protocol wire contract (.proto files) and,
// in cyxwizpb, the Go generated from it. Regenerate with `go generate ./proto`
// (needs protoc, Debian package protobuf-compiler; the Go plugins are pinned
// as tool dependencies in go.mod).
package proto

//go:generate sh -c "protoc -I . --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=module=github.com/cyxwiz/central-server/proto --go-grpc_out=. --go-grpc_opt=module=github.com/cyxwiz/central-server/proto *.proto"
