// Package deps pins modules that packages of this repository are about to
// use, so that parallel work does not edit go.mod at once. It is removed
// once they are imported for real.
package deps

import (
	_ "github.com/coder/websocket"
	_ "golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
	_ "golang.org/x/net/html"
)
