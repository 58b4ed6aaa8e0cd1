package sqlstore

import (
	"math"

	"github.com/engramhq/engram"
)

// unitVector returns the point (lat, lon) on the unit sphere. Two points are
// within great-circle distance d of each other exactly when their chord is
// within 2*sin(d/2R), which lets SQL test a radius with arithmetic alone.
func unitVector(lat, lon float64) (x, y, z float64) {
	φ, λ := lat*math.Pi/180, lon*math.Pi/180
	return math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)
}

// radiusBounds returns the latitude band containing every point within r of
// its centre (used to narrow by index) and the squared chord length of the
// radius (the exact test).
func radiusBounds(r *engram.GeoRadius) (minLat, maxLat, chord2 float64) {
	angle := r.KM / engram.EarthRadiusKM // radians
	if angle >= math.Pi {
		return -90, 90, 4 // the whole sphere
	}
	deg := angle * 180 / math.Pi
	c := 2 * math.Sin(angle/2)
	return math.Max(-90, r.Lat-deg), math.Min(90, r.Lat+deg), c * c
}

// DistanceKM is the great-circle (haversine) distance between two points.
func DistanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	φ1, φ2 := lat1*math.Pi/180, lat2*math.Pi/180
	dφ, dλ := φ2-φ1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * engram.EarthRadiusKM * math.Asin(math.Min(1, math.Sqrt(a)))
}

func validateRadius(r *engram.GeoRadius) error {
	switch {
	case math.IsNaN(r.Lat) || r.Lat < -90 || r.Lat > 90:
		return engram.Invalid("near.lat", "is %v; must be between -90 and 90", r.Lat)
	case math.IsNaN(r.Lon) || r.Lon < -180 || r.Lon > 180:
		return engram.Invalid("near.lon", "is %v; must be between -180 and 180", r.Lon)
	case math.IsNaN(r.KM) || math.IsInf(r.KM, 0) || r.KM <= 0:
		return engram.Invalid("near.km", "is %v; must be a positive distance", r.KM)
	}
	return nil
}

func validateBox(b *engram.GeoBox) error {
	switch {
	case math.IsNaN(b.MinLat) || b.MinLat < -90 || b.MinLat > 90:
		return engram.Invalid("box.min_lat", "is %v; must be between -90 and 90", b.MinLat)
	case math.IsNaN(b.MaxLat) || b.MaxLat < -90 || b.MaxLat > 90:
		return engram.Invalid("box.max_lat", "is %v; must be between -90 and 90", b.MaxLat)
	case b.MinLat > b.MaxLat:
		return engram.Invalid("box.min_lat", "%v is above max_lat %v", b.MinLat, b.MaxLat)
	case math.IsNaN(b.MinLon) || b.MinLon < -180 || b.MinLon > 180:
		return engram.Invalid("box.min_lon", "is %v; must be between -180 and 180", b.MinLon)
	case math.IsNaN(b.MaxLon) || b.MaxLon < -180 || b.MaxLon > 180:
		return engram.Invalid("box.max_lon", "is %v; must be between -180 and 180", b.MaxLon)
	}
	return nil
}
