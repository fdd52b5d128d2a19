package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Error is the body of an error answer of either admin API.
type Error struct {
	Error string `json:"error"`
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers err as an Error with status (413 if err is a body
// larger than its http.MaxBytesReader allows).
func WriteError(w http.ResponseWriter, status int, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
	}
	WriteJSON(w, status, Error{Error: err.Error()})
}
