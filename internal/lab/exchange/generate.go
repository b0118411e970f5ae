package exchange

//go:generate go run ./internal/gen -in ../../../../shared/exchange/cmdlets.json -out params_gen.go
