package health

// Tracker turns probe results into a status with rise/fall hysteresis. The
// first result decides at once (so that one round of probes gives a true
// picture at start); after that it takes Rise passes in a row to become
// healthy and Fall failures in a row to become unhealthy.
type Tracker struct {
	Rise, Fall int

	status Status
	streak int // consecutive results that disagree with status
}

// Status is the tracker's current verdict.
func (t *Tracker) Status() Status { return t.status }

// Observe records one result and reports whether the status changed.
func (t *Tracker) Observe(ok bool) (old, new Status, changed bool) {
	old = t.status
	want := Unhealthy
	if ok {
		want = Healthy
	}
	switch {
	case t.status == Unknown:
		t.status = want
	case t.status == want:
		t.streak = 0
	default:
		t.streak++
		need := t.Fall
		if ok {
			need = t.Rise
		}
		if t.streak >= need {
			t.status, t.streak = want, 0
		}
	}
	return old, t.status, t.status != old
}

// Seed starts the tracker from a known status (carried over a reload), as
// if the first result had said so.
func (t *Tracker) Seed(s Status) { t.status, t.streak = s, 0 }
