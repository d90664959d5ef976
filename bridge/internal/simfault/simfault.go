// Package simfault is the fault-injection admin endpoint the provider
// simulators (iyzicosim, paywallsim, vomsissim) share: a test or a
// technician reads the simulator's current faults with GET and replaces
// them with PUT (or POST) of the same JSON. Each simulator keeps its own
// Faults type, because what can go wrong differs per provider; only the
// endpoint's behaviour is one.
package simfault

import (
	"encoding/json"
	"net/http"
)

// Serve answers one request to a simulator's faults endpoint. get returns
// the faults in force; set replaces them (the simulator copies and
// normalises what it keeps). Both answers echo the faults as JSON.
func Serve[F any](w http.ResponseWriter, r *http.Request, get func() F, set func(F)) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, get())
	case http.MethodPut, http.MethodPost:
		var f F
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		set(f)
		writeJSON(w, f)
	default:
		http.Error(w, "GET or PUT", http.StatusMethodNotAllowed)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
}
