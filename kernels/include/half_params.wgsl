// Per-channel SSM parameters (A = −exp(A_log), conv1d's weight and bias, D) of a quantized model, held as f16
// (`Backend.uploadHalf`): two per u32 word, element i in the low (i even) or high (i odd) half of word i / 2 — the
// packing unpack2x16float reads and the f16 weight matrices use. A kernel reading them declares the binding
// array<u32> and `override P16: bool`: false, each word holds one f32's bits; true, f16 pairs. (A is A = −exp(A_log)
// itself, an f16 since the host snapped A_log: runtime/half_params.ts.)

// f16 bits (the low 16 bits of h; higher bits ignored) → f32, exact for every finite half: a subnormal is computed
// as mantissa · 2⁻²⁴ (a normal f32), never through an f32 subnormal that a GPU might flush to zero.
fn half_to_f32(h: u32) -> f32 {
  let mag = h & 0x7fffu;
  var v: f32;
  if (mag < 0x0400u) {
    v = f32(mag) * 5.9604644775390625e-8;
  } else {
    v = bitcast<f32>((mag << 13u) + 0x38000000u); // exponent rebiased by 127 − 15 = 112
  }
  return select(v, -v, (h & 0x8000u) != 0u);
}

// Element i of a parameter from its word (word i / 2 when f16, word i when f32).
fn param_of(word: u32, i: u32, p16: bool) -> f32 {
  if (p16) {
    return half_to_f32(word >> ((i & 1u) * 16u));
  }
  return bitcast<f32>(word);
}

// The word index of element i.
fn param_word(i: u32, p16: bool) -> u32 {
  return select(i, i / 2u, p16);
}

