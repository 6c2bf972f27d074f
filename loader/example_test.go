package loader_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/npshm/npshm/loader"
)

// Load text files into shared memory on every core and publish the result
// for numpy processes: npshm.get("genome") in Python.
func Example() {
	dir, _ := os.MkdirTemp("", "loader-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data1.txt")
	os.WriteFile(path, []byte("# chr pos pct c t\nchr1 100 0.5 3 4\nchr2 200 0.25 5 6\n"), 0o644)

	dt, err := loader.ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	if err != nil {
		log.Fatal(err)
	}
	arrays, err := loader.Load([]string{path}, loader.Options{DType: dt, Comments: "#"})
	if err != nil {
		log.Fatal(err) // a *loader.ParseError names file:line and the text
	}
	a := arrays[0]
	defer a.Close()
	defer a.Unlink() // a real loader would a.Publish("genome") and leave it
	fmt.Println(a.Shape(), a.DType().Size, "bytes per record")
	// Output: [2] 26 bytes per record
}
