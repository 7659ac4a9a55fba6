// Block-quantized weights (runtime/backend.ts QuantFormat, GGUF's Q8_0 / Q4_0), as the WebGPU backend stores them
// (kernels/gpu_tensors.ts repacks at upload; no 8-bit or f16 loads in core WGSL): one u32 array per matrix part,
// - codes: block s = row · blocks_per_row + b at words [s · QWORDS, (s + 1) · QWORDS), the block's code bytes as they
//   are in the file (little-endian words). Q8_0: 8 words, byte j = int8 code of element j. Q4_0: 4 words, byte j =
//   element j (low nibble) and element j + 16 (high nibble), each q − 8.
// - scales: from word scale_base on, the f16 scale of block s in half s % 2 of word scale_base + s / 2.
// So a part takes exactly 34 (Q8_0) or 18 (Q4_0) bytes per block, plus at most 2 bytes of padding.
// Codes are extracted with extractBits (sign-extending for Q8_0) and the products d · q are exact in f32.

const QBLOCK: u32 = 32u; // weights per block

// u32 words of codes per block.
fn qwords(q4: bool) -> u32 {
  return select(8u, 4u, q4);
}

// The f16 scale of block s of a part whose scales start at word scale_base.
fn qscale(w_scale_word: u32, s: u32) -> f32 {
  return unpack2x16float(w_scale_word)[s & 1u];
}

// Codes of Q8_0 word `word`, elements 4j .. 4j + 3 of the block (j the word's index in the block).
fn q8_codes(word: u32) -> vec4<f32> {
  let v = bitcast<i32>(word);
  return vec4<f32>(f32(extractBits(v, 0u, 8u)), f32(extractBits(v, 8u, 8u)), f32(extractBits(v, 16u, 8u)),
                   f32(extractBits(v, 24u, 8u)));
}

// Codes (q − 8) of Q4_0 word `word` held in its low (hi = 0) or high (hi = 4) nibbles: elements 4j .. 4j + 3 of
// the block (low) or 4j + 16 .. 4j + 19 (high).
fn q4_codes(word: u32, hi: u32) -> vec4<f32> {
  return vec4<f32>(f32(extractBits(word, hi, 4u)), f32(extractBits(word, 8u + hi, 4u)),
                   f32(extractBits(word, 16u + hi, 4u)), f32(extractBits(word, 24u + hi, 4u))) - vec4<f32>(8.0);
}
