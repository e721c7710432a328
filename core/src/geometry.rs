//! Small geometry shared by the stages: points, boxes and 2-D affine maps.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }
    pub fn dist(self, o: Point) -> f32 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
    pub fn mid(self, o: Point) -> Point {
        Point::new((self.x + o.x) * 0.5, (self.y + o.y) * 0.5)
    }
}

/// Axis-aligned box in pixel coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    pub fn center(&self) -> Point {
        Point::new((self.x0 + self.x1) * 0.5, (self.y0 + self.y1) * 0.5)
    }
    pub fn iou(&self, o: &BBox) -> f32 {
        let ix = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let iy = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
    pub fn scaled(&self, s: f32) -> BBox {
        BBox { x0: self.x0 * s, y0: self.y0 * s, x1: self.x1 * s, y1: self.y1 * s }
    }
}

/// `p' = [a b; c d] p + [tx ty]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub d: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Affine {
    pub fn identity() -> Self {
        Affine { a: 1.0, b: 0.0, c: 0.0, d: 1.0, tx: 0.0, ty: 0.0 }
    }

    /// Maps `src_center` to `dst_center`, rotating by `angle` radians (counter-clockwise in image
    /// coordinates with y down means the picture turns clockwise) and scaling by `scale`.
    pub fn similarity(src_center: Point, dst_center: Point, angle: f32, scale: f32) -> Self {
        let (s, c) = angle.sin_cos();
        let a = c * scale;
        let b = -s * scale;
        let cc = s * scale;
        let d = c * scale;
        Affine {
            a,
            b,
            c: cc,
            d,
            tx: dst_center.x - (a * src_center.x + b * src_center.y),
            ty: dst_center.y - (cc * src_center.x + d * src_center.y),
        }
    }

    pub fn apply(&self, p: Point) -> Point {
        Point::new(self.a * p.x + self.b * p.y + self.tx, self.c * p.x + self.d * p.y + self.ty)
    }

    pub fn inverse(&self) -> Affine {
        let det = self.a * self.d - self.b * self.c;
        let ia = self.d / det;
        let ib = -self.b / det;
        let ic = -self.c / det;
        let id = self.a / det;
        Affine { a: ia, b: ib, c: ic, d: id, tx: -(ia * self.tx + ib * self.ty), ty: -(ic * self.tx + id * self.ty) }
    }

    /// Uniform scale factor of a similarity transform.
    pub fn scale(&self) -> f32 {
        (self.a * self.d - self.b * self.c).abs().sqrt()
    }

    /// `self` after `first`: p -> self(first(p)).
    pub fn then_after(&self, first: &Affine) -> Affine {
        Affine {
            a: self.a * first.a + self.b * first.c,
            b: self.a * first.b + self.b * first.d,
            c: self.c * first.a + self.d * first.c,
            d: self.c * first.b + self.d * first.d,
            tx: self.a * first.tx + self.b * first.ty + self.tx,
            ty: self.c * first.tx + self.d * first.ty + self.ty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_roundtrip() {
        let t = Affine::similarity(Point::new(10.0, 20.0), Point::new(100.0, 50.0), 0.3, 2.0);
        let p = t.apply(Point::new(10.0, 20.0));
        assert!((p.x - 100.0).abs() < 1e-4 && (p.y - 50.0).abs() < 1e-4);
        let q = t.inverse().apply(t.apply(Point::new(3.0, 7.0)));
        assert!((q.x - 3.0).abs() < 1e-3 && (q.y - 7.0).abs() < 1e-3);
        assert!((t.scale() - 2.0).abs() < 1e-5);
    }

    #[test]
    fn iou_basic() {
        let a = BBox { x0: 0.0, y0: 0.0, x1: 2.0, y1: 2.0 };
        let b = BBox { x0: 1.0, y0: 0.0, x1: 3.0, y1: 2.0 };
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    }
}
