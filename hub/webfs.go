package hub

import (
	"io/fs"
	"net/http"
)

// HTTPFS returns sub-directory dir of f as an http.FileSystem, for serving
// a feature's embedded web/ folder with Fiber's filesystem middleware.
func HTTPFS(f fs.FS, dir string) http.FileSystem { return http.FS(mustSub(f, dir)) }
