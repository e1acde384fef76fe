// Command hello is the program the bundled example image runs.
package main

import "fmt"

func main() {
	fmt.Println("Hello from an image built by kaniko-build")
}
