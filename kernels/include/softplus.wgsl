// softplus(v) = log(1 + exp(v)), as PyTorch's F.softplus (threshold 20) with log1p accuracy for small exp(v).

fn softplus(v: f32) -> f32 {
  if (v > 20.0) {
    return v;
  }
  let e = exp(v);
  if (e < 1e-3) {
    return e * (1.0 - e * (0.5 - e / 3.0)); // log1p(e) without cancellation
  }
  return log(1.0 + e);
}
