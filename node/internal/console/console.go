package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assetFS embed.FS

// securityHeaders are set on every answer of the console.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
}

// asset is one embedded file, served under its content-hashed name.
type asset struct {
	data        []byte
	contentType string
}

// Console serves the console's pages and assets.
type Console struct {
	index  []byte
	assets map[string]asset // by hashed name
	mux    *http.ServeMux
}

// New returns the console. It fails only if the embedded assets are
// broken (a build defect).
func New() (*Console, error) {
	c := &Console{assets: map[string]asset{}}
	index, err := assetFS.ReadFile("assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	html := string(index)
	for _, name := range []string{"console.css", "console.js"} {
		data, err := fs.ReadFile(assetFS, "assets/"+name)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		sum := sha256.Sum256(data)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		ct := "text/css; charset=utf-8"
		if ext == ".js" {
			ct = "text/javascript; charset=utf-8"
		}
		c.assets[hashed] = asset{data: data, contentType: ct}
		html = strings.ReplaceAll(html, "/assets/"+name, "/assets/"+hashed)
	}
	c.index = []byte(html)
	c.mux = http.NewServeMux()
	c.mux.HandleFunc("GET /{$}", c.page)
	c.mux.HandleFunc("GET /workflows/{id}", c.page)
	c.mux.HandleFunc("GET /assets/{name}", c.asset)
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no console page "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	})
	return c, nil
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page names its assets by hash: it must be fetched again for a
	// new build to be seen.
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(c.index)
}

// assetEpoch is the Last-Modified of every asset (their names change with
// their content, so the date carries no information).
var assetEpoch = time.Unix(0, 0)

func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets[r.PathValue("name")]
	if !ok {
		http.Error(w, "no console asset "+r.PathValue("name"), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", assetEpoch, strings.NewReader(string(a.data)))
}
