package exchange

//go:generate go run ./internal/gen -in cmdlets.json -out params_gen.go
