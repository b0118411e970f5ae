package rps

// TypeChain exposes the type chain table to the tests.
func TypeChain(typeName string) []string { return typeChains[typeName] }
