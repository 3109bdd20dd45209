package policy

import (
	"math"
	"net/netip"
)

// EarthRadiusKm is the earth's mean radius (IUGG), the sphere distances are
// measured on: typically within 0.3 % of the WGS84 ellipsoid's geodesic, at
// most about 0.5 %.
const EarthRadiusKm = 6371.0088

// Point is a place on the earth as a unit vector from its centre, so that
// the distance to another place takes a few multiplications, a square root
// and one arc sine, and no trigonometry of its own coordinates.
type Point struct {
	x, y, z float64
	Lat     float64 // decimal degrees, as given
	Lon     float64
	valid   bool
}

// PointAt is the place at lat, lon (decimal degrees).
func PointAt(lat, lon float64) Point {
	φ, λ := lat*math.Pi/180, lon*math.Pi/180
	sφ, cφ := math.Sincos(φ)
	sλ, cλ := math.Sincos(λ)
	return Point{x: cφ * cλ, y: cφ * sλ, z: sφ, Lat: lat, Lon: lon, valid: true}
}

// Valid reports whether p is a place (the zero Point is none).
func (p Point) Valid() bool { return p.valid }

// Km is the great-circle distance from p to q in kilometres. It goes
// through the chord between the two, which keeps short distances exact
// where an arc cosine of their dot product would lose them.
func (p Point) Km(q Point) float64 {
	dx, dy, dz := p.x-q.x, p.y-q.y, p.z-q.z
	half := math.Sqrt(dx*dx+dy*dy+dz*dz) / 2
	return 2 * EarthRadiusKm * asin(min(half, 1))
}

// asin is the arc sine of x in [0, 1] within 2e-8 radians (13 cm on the
// earth), Abramowitz and Stegun 4.4.46 (below 0.01, the series): a square
// root and a polynomial, where math.Asin's arc tangent cost five times as
// much, for each pool of each query.
func asin(x float64) float64 {
	if x < 0.01 {
		// Within 100 km or so, where the polynomial's error would be
		// most of the distance: the series, to 1e-15.
		x2 := x * x
		return x * (1 + x2*(1.0/6+x2*3.0/40))
	}
	p := -0.0012624911
	p = p*x + 0.0066700901
	p = p*x - 0.0170881256
	p = p*x + 0.0308918810
	p = p*x - 0.0501743046
	p = p*x + 0.0889789874
	p = p*x - 0.2145988016
	p = p*x + 1.5707963050
	return math.Pi/2 - math.Sqrt(1-x)*p
}

// Biased is a distance as a pool with bias counts it: (100-bias) % of it, so
// that a positive bias draws clients from farther away and a negative one
// sends them elsewhere sooner (Route 53's geoproximity bias).
func Biased(km float64, bias int) float64 { return km * float64(100-bias) / 100 }

// Located reports whether the pool has a place, and where.
func (p *Pool) Located() (Point, bool) { return p.at, p.at.valid }

// Bias is the pool's bias (-99 to 99).
func (p *Pool) Bias() int { return p.bias }

// Distance is the pool's distance from at in km and as its bias counts it;
// a pool without a place is infinitely far.
func (p *Pool) Distance(at Point) (km, biased float64) {
	if !p.at.valid {
		return math.Inf(1), math.Inf(1)
	}
	km = p.at.Km(at)
	return km, km * p.scale
}

// TieLimit is the farthest (biased) distance that ties with best: pct
// percent or km above it, whichever is farther.
func TieLimit(best float64, pct int, km float64) float64 {
	return max(best+best*float64(pct)/100, best+km)
}

// nearBuf is how many available pools a collection can have for
// PickNearest to work on the stack; above it, one allocation per query.
const nearBuf = 16

// PickNearest appends the answer of the collection's available pools
// nearest to at: those whose biased distance is within the tie band of the
// nearest one's (pct percent or km above it; either suffices), picked from
// as the collection's method says. Pools without a place never answer
// unless no pool has one (then the collection answers as Pick does).
func (c *Collection) PickNearest(dst []*Addr, r Rand, at Point, pct int, km float64) []*Addr {
	return c.PickNearestFor(dst, r, at, pct, km, netip.Addr{})
}

// PickNearestFor is PickNearest for client, whom the hash method keys on.
func (c *Collection) PickNearestFor(dst []*Addr, r Rand, at Point, pct int, km float64, client netip.Addr) []*Addr {
	if len(c.Avail) < 2 {
		return c.PickFor(dst, r, client)
	}
	var dists [nearBuf]float64
	var mems [nearBuf]Member
	dist, near := dists[:0], mems[:0]
	if len(c.Avail) > nearBuf {
		dist, near = make([]float64, 0, len(c.Avail)), make([]Member, 0, len(c.Avail))
	}
	best := math.Inf(1)
	for _, m := range c.Avail {
		_, d := m.Pool.Distance(at)
		dist = append(dist, d)
		if d < best { // not min(): its NaN and -0 rules cost more than the comparison
			best = d
		}
	}
	if math.IsInf(best, 1) {
		return c.PickFor(dst, r, client)
	}
	limit := TieLimit(best, pct, km)
	sub := Collection{Method: c.Method}
	for i, m := range c.Avail {
		if dist[i] <= limit {
			near = append(near, m)
			sub.weight += m.Weight
		}
	}
	sub.Avail = near
	return sub.PickFor(dst, r, client)
}
