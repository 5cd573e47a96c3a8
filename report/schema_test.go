package report

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/smtpscope/smtpscope/report/internal/schemagen"
)

// SchemaFile is the JSON Schema of the JSON report, beside this package's
// sources; cmd/smtpscope's tests validate real reports against it.
const schemaFile = "smtpscope.report.v1.schema.json"

// TestSchemaFile: the schema file is what the report's Go types give
// (go test ./report -update rewrites it), so it cannot drift from the
// JSON WriteJSON writes.
func TestSchemaFile(t *testing.T) {
	got, err := schemagen.Generate(reflect.TypeFor[Report](), "urn:smtpscope:schema:"+Schema, Schema)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./report -run TestSchemaFile -update", schemaFile)
	}
}
