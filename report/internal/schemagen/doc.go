// Package schemagen writes the JSON Schema (Draft 2020-12) of a Go type as
// encoding/json marshals it: for report's smtpscope.report/v1 schema file,
// which report's tests regenerate and compare (go test ./report -update
// rewrites it). It follows encoding/json's rules: json tags name fields
// ("-" leaves one out), omitempty and omitzero make a field optional,
// embedded structs lend their fields, nil slices, maps and pointers
// without omitempty are null, time.Time is an RFC 3339 string and a type
// with a MarshalText method a string. Every object is closed
// (additionalProperties false), so a field added to the Go types without
// regenerating the file fails validation of real output.
//
// It does not read doc comments: the schema says the layout, report's
// doc.go says what the fields mean.
package schemagen
