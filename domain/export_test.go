package domain

// DecodeBase58 exposes decodeBase58 to the package's tests.
var DecodeBase58 = decodeBase58
