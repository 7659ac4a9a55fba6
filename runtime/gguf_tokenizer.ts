/**
 * A Hugging Face `tokenizer.json` (byte-level BPE, like GPT-2's and GPT-NeoX's) as llama.cpp's `tokenizer.ggml.*`
 * GGUF metadata, and back: the metadata of a GGUF written by llama.cpp's `convert_hf_to_gguf.py` (or by us) as a
 * `tokenizer.json` object that npm:@huggingface/tokenizers loads. Models without a tokenizer are written the way
 * llama.cpp loads vocabulary-less models: `tokenizer.ggml.model` "no_vocab" and `<arch>.vocab_size`.
 *
 * The conventions follow llama.cpp (the tag node-llama-cpp 3.22.1 bundles): `TextModel.get_vocab_base`,
 * `get_vocab_base_pre` and `gguf-py`'s `SpecialVocab` in the converter, `llama_vocab::impl::load` in the loader.
 * Platform-neutral; the tokenizer itself (to hash the pre-tokenizer check text) is passed in as a function.
 *
 * @module
 */
import type { GgufMetadataEntry } from "./gguf.ts";

/**
 * llama.cpp's token types (`llama_token_type`, gguf-py `TokenType`).
 *
 * @example
 * ```ts
 * import { GGUF_TOKEN_TYPES } from "@perfmamba/perfmamba";
 *
 * console.log(GGUF_TOKEN_TYPES.CONTROL, GGUF_TOKEN_TYPES.UNUSED); // 3 5
 * ```
 */
export const GGUF_TOKEN_TYPES = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/**
 * The text llama.cpp's converter tokenizes to recognise a BPE pre-tokenizer (`get_vocab_base_pre`'s `chktxt`): the
 * SHA-256 of the ids, written as Python writes a list (`[1, 2, 3]`), is looked up in {@link GGUF_PRE_TOKENIZERS}.
 *
 * @example
 * ```ts
 * import { GGUF_PRE_CHECK_TEXT } from "@perfmamba/perfmamba";
 *
 * console.log(GGUF_PRE_CHECK_TEXT.length); // 356
 * ```
 */
export const GGUF_PRE_CHECK_TEXT =
  "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\u{1f680} (normal) \u{1f636}\u200d\u{1f32b}\ufe0f (multiple emojis concatenated) \u2705 \u{1f999}\u{1f999} 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 \u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f\u17a2\u17b6\u1785\u{1f601} ?\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e ------======= \u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438 ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

/**
 * `tokenizer.ggml.pre` by the hash of the check text's ids: llama.cpp's `get_vocab_base_pre` table
 * (conversion/base.py of the llama.cpp tag node-llama-cpp 3.22.1 bundles). Where the table lists a hash twice, the
 * first name is kept here (the converter's chain of `if`s ends on the last): GPT-NeoX-20B's tokenizer (b6dc8df9…) is
 * listed as "mpt" (MPT-7B uses it) and then "olmo"; both select the same pre-tokenizer regex in llama.cpp, and "mpt"
 * is what llama.cpp's own GPT-NeoX vocabulary (models/ggml-vocab-mpt.gguf; the converter's built-in "gpt-neox"
 * vocabulary defaults to it) says.
 *
 * @example
 * ```ts
 * import { GGUF_PRE_TOKENIZERS } from "@perfmamba/perfmamba";
 *
 * console.log(GGUF_PRE_TOKENIZERS["b6dc8df998e1cfbdc4eac8243701a65afe638679230920b50d6f17d81c098166"]); // mpt
 * ```
 */
export const GGUF_PRE_TOKENIZERS: Readonly<Record<string, string>> = {
  "b6e8e1518dc4305be2fe39c313ed643381c4da5db34a98f6a04c093f8afbe99b": "chatglm-bpe",
  "81d72c7348a9f0ebe86f23298d37debe0a5e71149e29bd283904c02262b27516": "chatglm-bpe",
  "a1336059768a55c99a734006ffb02203cd450fed003e9a71886c88acf24fdbc2": "glm4",
  "9ca2dd618e8afaf09731a7cf6e2105b373ba6a1821559f258b272fe83e6eb902": "glm4",
  "cdf5f35325780597efd76153d4d1c16778f766173908894c04afc20108536267": "glm4",
  "1431a23e583c97432bc230bff598d103ddb5a1f89960c8f1d1051aaa944d0b35": "minerva-7b",
  "7e57df22b1fe23a7b1e1c7f3dc4e3f96d43a4eb0836d0c6bdc3436d7b2f1c664": "hunyuan",
  "bba3b3366b646dbdded5dbc42d59598b849371afc42f7beafa914afaa5b70aa6": "hunyuan-dense",
  "e6ddf9c6686791c12d698d34c31ab9be1fea9af5a3d9a6909783ab382198ae1c": "hy_v4",
  "a6b57017d60e6edb4d88ecc2845188e0eb333a70357e45dcc9b53964a73bbae6": "falcon-h1",
  "60476e1243776c4fb1b993dbd7a5f15ac22f83c80afdf425fa5ae01c8d44ef86": "falcon-h1",
  "3eda48b4c4dc7de733d1a8b3e3b4a85243dbbf704da2ee9d42c6beced8897896": "falcon-h1",
  "48f8e02c0359c0bbdd82f26909171fac1c18a457bb47573ed1fe3bbb2c1cfd4b": "falcon-h1",
  "81212dc7cdb7e0c1074ca62c5aeab0d43c9f52b8a737be7b12a777c953027890": "kimi-k2",
  "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2",
  "1444df51289cfa8063b96f0e62b1125440111bc79a52003ea14b6eac7016fd5f": "qwen35",
  "66b8d4e19ab16c3bfd89bce5d785fb7e0155e8648708a1f42077cb9fe002c273": "grok-2",
  "b3d1dd861f1d4c5c0d2569ce36baf3f90fe8a102db3de50dd71ff860d91be3df": "jina-v2-de",
  "0fe1cf6eda062318a1af7270f3331a85c539a01778ff948e24388e949c5282f4": "gpt-2",
  "9e454714343b69b99b71795c1d27a68c2a1d15dab111f4d353109f966af29da7": "lfm2",
  "846deafc5b0fa786186fa4ae6c7b49903cf2f1d1895bdb80b9120d60be135252": "gemma4",
  "0a766d034107bc736a3f2dc4968fd62e54a3570f1454443e0c5a4cc6bd7941ed": "spark2_5",
  "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
  "049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754": "deepseek-llm",
  "347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821": "deepseek-coder",
  "8aeee3860c56296a157a1fe2fad249ec40aa59b1bb5709f4ade11c4e6fe652ed": "falcon",
  "0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f": "bert-bge",
  "9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e": "falcon3",
  "8e62295832751ca1e8f92f2226f403dea30dc5165e448b5bfa05af5340c64ec7": "bert-bge-large",
  "b6dc8df998e1cfbdc4eac8243701a65afe638679230920b50d6f17d81c098166": "mpt",
  "35d91631860c815f952d711435f48d356ebac988362536bed955d43bfa436e34": "starcoder",
  "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
  "32d85c31273f8019248f2559fed492d929ea28b17e51d81d3bb36fff23ca72b3": "stablelm2",
  "6221ad2852e85ce96f791f476e0b390cf9b474c9e3d1362f53a24a06dc8220ff": "refact",
  "9c2227e4dd922002fb81bde4fc02b0483ca4f12911410dee2255e4987644e3f8": "command-r",
  "d772b220ace2baec124bed8cfafce0ead7d6c38a4b65ef11261cf9d5d62246d1": "tiny_aya",
  "52df12b4c8d4176e7481aab4b6e8454d1fd0a210a04a574f6d4e067d10e23c3e": "cohere2moe",
  "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
  "a8594e3edff7c29c003940395316294b2c623e09894deebbc65f33f1515df79e": "dbrx",
  "c7699093ba4255a91e702aa38a596aa81669f3525dae06c2953267dde580f448": "jina-v1-en",
  "171aeeedd6fb548d418a7461d053f11b6f1f1fc9b387bd66640d28a4b9f5c643": "jina-v2-es",
  "27949a2493fc4a9f53f5b9b029c82689cfbe5d3a1929bb25e043089e28466de6": "jina-v2-de",
  "a023e9fdc5a11f034d3ef515b92350e56fb2af1f66c6b6811a4444ea9bf8763d": "jina-v5-nano",
  "c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d": "smaug-bpe",
  "c7ea5862a53e4272c035c8238367063e2b270d51faa48c0f09e9d5b54746c360": "poro-chat",
  "7967bfa498ade6b757b064f31e964dddbb80f8f9a4d68d4ba7998fcf281c531a": "jina-v2-code",
  "7fc505bd3104ca1083b150b17d088b59534ede9bde81f0dd2090967d7fe52cee": "viking",
  "b53802fb28e26d645c3a310b34bfe07da813026ec7c7716883404d5e0f8b1901": "jais",
  "bc5108ee1eb6a3d600cadd065f63190fbd0554dbc9e4bbd6a0d977970afc8d2a": "jais-2",
  "7b3e7548e4308f52a76e8229e4e6cc831195d0d1df43aed21ac6c93da05fec5f": "codeshell",
  "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",
  "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
  "3c30d3ad1d6b64202cd222813e7736c2db6e1bd6d67197090fc1211fbc612ae7": "bloom",
  "bc01ce58980e1db43859146dc51b1758b3b88729b217a74792e9f8d43e479d21": "gpt3-finnish",
  "4e2b24cc4770243d65a2c9ec19770a72f08cffc161adbb73fcbb6b7dd45a0aae": "exaone",
  "fcace8b9cac38ce847670c970cd5892031a753a1ef381abd1d9af00f713da085": "phi-2",
  "60824e3c0d9401f89943cbb2fff727f0e2d4c545ba4df2d6e4f09a6db0f5b450": "chameleon",
  "8b5a93ed704057481f240da0be7e7dca721d7f8f4755263b6807227a2cbeae65": "roberta-bpe",
  "ad851be1dba641f2e3711822f816db2c265f788b37c63b4e1aeacb9ee92de8eb": "gigachat",
  "d4c8f286ea6b520b3d495c4455483cfa2302c0cfcd4be05d781b6a8a0a7cdaf1": "megrez",
  "877081d19cf6996e2c4ff0e1236341e9b7bde288f5311a56a937f0afbbb3aeb5": "deepseek-v3",
  "b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
  "ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e": "gpt-4o",
  "7dec86086fcc38b66b7bc1575a160ae21cf705be7718b9d5598190d7c12db76f": "superbpe",
  "1994ffd01900cfb37395608534236ecd63f2bd5995d6cb1004dda1af50240f15": "trillion",
  "96a5f08be6259352137b512d4157e333e21df7edd3fcd152990608735a65b224": "bailingmoe",
  "d353350c764d8c3b39c763113960e4fb4919bea5fbf208a0e3b22e8469dc7406": "llama4",
  "0e9433cbbb161f89e264eb32e8e64bfe69e834973ffca5d41d3948a604a3e2a3": "pixtral",
  "d5f1dd6f980fec569fb218a81a7658ac45fc56b38c5a0adeb1c232fbe04ef5ec": "seed-coder",
  "b0a6b1c0bd5998ebd9df08611efde34a4ff03faed45ae09c43e6b31ebd4b94cf": "a.x-4.0",
  "f6791d196f87ce6b56a7d234be618e0d58f8cda3549416635b2bebcd22cd95c4": "midm-2.0",
  "169bf0296a13c4d9b7672313f749eb36501d931022de052aad6e36f2bf34dd51": "lfm2",
  "2085e1638f6c377a0aa4ead21b27bb4cb941bf800df86ed391011769c1758dfb": "exaone4",
  "a1e163ecab2e718a4c829d1148b6e86824ec36163bb71941c3dca9cd5ac25756": "mellum",
  "a0b64b4385f123663873756336c085744376d015ff328bb1d901598f63c44152": "modern-bert",
  "49fc0303c9e0d2c2c565c510f64b2d9b271276acdcdadff733249eda9f7d59df": "afmoe",
  "9b1be57e70d20d9501b2b3186e792d81181ae36ada3903c26f9fea418cf87206": "bailingmoe2",
  "53e325976a6e142379c19b09afcae354f2f496f147afa8f9e189a33fe4e3024e": "granite-docling",
  "f4f37b6c8eb9ea29b3eac6bb8c8487c5ab7885f8d8022e67edc1c68ce8403e95": "minimax-m2",
  "4a2e2abae11ca2b86d570fc5b44be4d5eb5e72cc8f22dd136a94b37da83ab665": "kormo",
  "9d70134b369a70e5735009b6de918f7581b5211f7c074d1f89f753aea8248af1": "youtu",
  "16389f0a1f51ee53e562ffd51c371dc508639ab0e4261502071836e50e223e91": "solar-open",
  "6c81ce329e0802883b22eabab0d3fa48357337ef1ecb45443828bf1f6254833f": "exaone-moe",
  "d30d75d9059f1aa2c19359de71047b3ae408c70875e8a3ccf8c5fba56c9d8af4": "qwen35",
  "b4b8ca1f9769494fbd956ebc4c249de6131fb277a4a3345a7a92c7dd7a55808d": "joyai-llm",
  "e4d54df1ebc1f2b91acd986c5b51aa50837d5faf7c7398e73c1f9e9ee5d19869": "kanana2",
  "862f827721df956049dff5ca81a57f29e575280bc622e290d3bf4e35eca29015": "f2llmv2",
  "62f6fb0a6fd5098caeabb19b07a5c1099cafc8b9c40eab6ea89ece4ec02fbc57": "sarvam-moe",
  "f728162c1315c26e40249849799b4ba3fe584c32084b4795b03eb295e63cb5af": "talkie",
  "36f3066e97b7f3994b379aaacde306c1444c6ae84e81a5ae3cd2b7ed3b8c42d4": "minicpm5",
  "f241072145675bf8322086f115aebad05e9f869557a238bf2150a2a417d1bf60": "granite-embed-multi-97m",
  "789696f5946cc0fc59371f39f6097cafed196b3acded6140432f26bbb1ae1669": "granite-embed-multi-311m",
  "9dcf830ee9990cdbf78cc523a5f7bd9ad8f3f9890c2d3581d2785ad10f07049d": "mellum2",
  "972da7b59cec44d1f0a490a86c96df53859e486e481563e5dddac155013d87ac": "laguna",
  "653660222fb704f61cbf2b618a8ae6502b7f8b20c980f9a5de07ed78e13319cd": "ufakzeka",
};

/**
 * A tokenizer the export cannot describe for llama.cpp, or GGUF tokenizer metadata that cannot be rebuilt.
 *
 * @example
 * ```ts
 * import { GgufTokenizerError, ggufTokenizerMetadata } from "@perfmamba/perfmamba";
 *
 * try {
 *   ggufTokenizerMetadata({ model: { type: "WordPiece" } }, { vocabSize: 8, pre: "gpt-2" });
 * } catch (e) {
 *   console.log(e instanceof GgufTokenizerError); // true
 * }
 * ```
 */
export class GgufTokenizerError extends Error {
  override name = "GgufTokenizerError";
}

/**
 * The SHA-256 (hex) of the ids as Python's `str(list)` writes them, as llama.cpp's `chkhsh`.
 *
 * @example
 * ```ts
 * import { preTokenizerHash } from "@perfmamba/perfmamba";
 *
 * console.log(await preTokenizerHash([1, 2, 3])); // a36b1f2c3f84522dd1005145646617d7054c0851e97c72a039c0bdfac9fa07f3
 * ```
 */
export async function preTokenizerHash(ids: readonly number[]): Promise<string> {
  const text = "[" + ids.join(", ") + "]";
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a tokenizer.json's pre-tokenizer is exactly GPT-2's: a lone ByteLevel with its regex, no prefix space. */
function gpt2PreTokenizer(tokenizer: Json): boolean {
  const p = tokenizer?.pre_tokenizer;
  return p?.type === "ByteLevel" && p.use_regex !== false && p.add_prefix_space !== true && !tokenizer.normalizer;
}

/**
 * The `tokenizer.ggml.pre` for a tokenizer: `encode` tokenizes {@link GGUF_PRE_CHECK_TEXT} as `transformers`'
 * `tokenizer.encode` does, and the hash of the ids is looked up in llama.cpp's table, as its converter does. A hash
 * the table lacks is accepted only when `tokenizer` (the tokenizer.json) shows GPT-2's own pre-tokenizer (a lone
 * ByteLevel with its regex, no normaliser): "gpt-2", whose regex is that one (e.g. a byte tokenizer without merges).
 *
 * @example
 * ```ts
 * import { ggufPreTokenizer } from "@perfmamba/perfmamba";
 *
 * const bytes = (text: string) => [...new TextEncoder().encode(text)];
 * console.log(await ggufPreTokenizer(bytes, { pre_tokenizer: { type: "ByteLevel", use_regex: true } })); // gpt-2
 * ```
 *
 * @throws GgufTokenizerError when llama.cpp does not know the pre-tokenizer (its converter refuses it too)
 */
export async function ggufPreTokenizer(
  encode: (text: string) => readonly number[],
  tokenizer?: unknown,
): Promise<string> {
  const hash = await preTokenizerHash(encode(GGUF_PRE_CHECK_TEXT));
  const pre = GGUF_PRE_TOKENIZERS[hash];
  if (pre !== undefined) return pre;
  if (gpt2PreTokenizer(tokenizer)) return "gpt-2";
  throw new GgufTokenizerError(
    `llama.cpp does not know this tokenizer's pre-tokenizer (check hash ${hash}); its converter refuses it too`,
  );
}

/**
 * Special token ids, e.g. from a model's config.json (`bos_token_id`, …).
 *
 * @example
 * ```ts
 * import type { SpecialTokenIds } from "@perfmamba/perfmamba";
 *
 * const ids: SpecialTokenIds = { bos: 0, eos: 0 };
 * console.log(ids.eos); // 0
 * ```
 */
export interface SpecialTokenIds {
  bos?: number;
  eos?: number;
  unk?: number;
  sep?: number;
  pad?: number;
  cls?: number;
  mask?: number;
}

/**
 * Options of {@link ggufTokenizerMetadata}.
 *
 * @example
 * ```ts
 * import type { GgufTokenizerOptions } from "@perfmamba/perfmamba";
 *
 * const options: GgufTokenizerOptions = { vocabSize: 50280, pre: "mpt", specialIds: { bos: 0, eos: 0 } };
 * console.log(options.pre); // mpt
 * ```
 */
export interface GgufTokenizerOptions {
  /** The model's vocabulary rows (embedding rows, padded): tokens past the tokenizer's are `[PAD<i>]`, UNUSED. */
  vocabSize: number;
  /** `tokenizer.ggml.pre` (see {@link ggufPreTokenizer}). */
  pre: string;
  /**
   * Special token ids from the model's config.json; ones the tokenizer's TemplateProcessing post-processor names come
   * first (as gguf-py's `SpecialVocab` does). Ids outside the vocabulary are left out.
   */
  specialIds?: SpecialTokenIds;
}

// deno-lint-ignore no-explicit-any
type Json = any;

const SPECIAL_KEYS: Record<keyof SpecialTokenIds, string> = {
  bos: "tokenizer.ggml.bos_token_id",
  eos: "tokenizer.ggml.eos_token_id",
  unk: "tokenizer.ggml.unknown_token_id",
  sep: "tokenizer.ggml.seperator_token_id", // sic: llama.cpp's spelling
  pad: "tokenizer.ggml.padding_token_id",
  cls: "tokenizer.ggml.cls_token_id",
  mask: "tokenizer.ggml.mask_token_id",
};

/** Whether a pre-tokenizer / decoder of tokenizer.json is byte-level (ByteLevel, alone or in a Sequence). */
function byteLevel(part: Json, list: "pretokenizers" | "decoders"): boolean {
  if (!part || typeof part !== "object") return false;
  if (part.type === "ByteLevel") return true;
  return part.type === "Sequence" && Array.isArray(part[list]) && part[list].some((p: Json) => byteLevel(p, list));
}

/** An added token that llama.cpp's converter marks CONTROL although not "special" (`does_token_look_special`). */
function looksSpecial(t: string): boolean {
  return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) ||
    (t.startsWith("<|") && t.endsWith("|>")) || (t.startsWith("<\uff5c") && t.endsWith("\uff5c>")) ||
    (t.startsWith("<unused") && t.endsWith(">"));
}

/** Merges as llama.cpp stores them: "a b" strings; the newer [a, b] pairs with spaces written as U+0120 ("Ġ"). */
function mergeStrings(merges: Json, file: string): string[] {
  // An empty list is kept (llama.cpp needs the key, not entries; the converter would leave it out, unloadable).
  if (!Array.isArray(merges)) throw new GgufTokenizerError(`${file}: model.merges is missing`);
  return merges.map((m: Json, i: number) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      return m.map((s: string) => s.replaceAll(" ", "\u0120")).join(" ");
    }
    throw new GgufTokenizerError(`${file}: model.merges[${i}] is neither "a b" nor ["a", "b"]`);
  });
}

/** TemplateProcessing's leading / trailing special tokens (gguf-py SpecialVocab's reading of it, simple cases). */
function templateSpecials(post: Json): { first?: string; last?: string } {
  for (const p of post?.type === "Sequence" ? post.processors ?? [] : [post]) {
    if (p?.type !== "TemplateProcessing" || !Array.isArray(p.single) || p.single.length < 2) continue;
    return { first: p.single[0]?.SpecialToken?.id, last: p.single.at(-1)?.SpecialToken?.id };
  }
  return {};
}

/**
 * Refuse a tokenizer.json that llama.cpp's "gpt2" tokenizer cannot describe: only byte-level BPE (a BPE model with a
 * ByteLevel pre-tokenizer and decoder) is exported. {@link ggufTokenizerMetadata} checks this first too.
 *
 * @example
 * ```ts
 * import { checkGgufTokenizer } from "@perfmamba/perfmamba";
 *
 * try {
 *   checkGgufTokenizer({ model: { type: "Unigram" } }, "tok.json");
 * } catch (e) {
 *   console.log((e as Error).message.startsWith('tok.json: model type "Unigram" is not supported')); // true
 * }
 * ```
 *
 * @throws GgufTokenizerError naming the file and what is not supported
 */
export function checkGgufTokenizer(tokenizer: unknown, file = "tokenizer.json"): void {
  const t = tokenizer as Json;
  if (t?.model?.type !== "BPE") {
    throw new GgufTokenizerError(
      `${file}: model type ${JSON.stringify(t?.model?.type)} is not supported; only byte-level BPE ` +
        "tokenizers (GPT-2, GPT-NeoX style) are exported to GGUF",
    );
  }
  if (!byteLevel(t.pre_tokenizer, "pretokenizers") || !byteLevel(t.decoder, "decoders")) {
    throw new GgufTokenizerError(`${file}: the BPE tokenizer is not byte-level (ByteLevel pre-tokenizer and decoder)`);
  }
}

/**
 * llama.cpp's tokenizer metadata for a byte-level BPE `tokenizer.json`: `tokenizer.ggml.model` "gpt2", `pre`,
 * `tokens` (ids 0 … vocabSize − 1; ids the tokenizer lacks are `[PAD<i>]`), `token_type` (NORMAL; added tokens
 * CONTROL when special, else USER_DEFINED; padding UNUSED), `merges`, the special token ids and `add_bos_token` /
 * `add_eos_token` when the post-processor adds them — what llama.cpp's `convert_hf_to_gguf.py` writes. When neither
 * the post-processor nor `specialIds` names BOS or EOS, a special "<|endoftext|>" token is both (GPT-2 / GPT-NeoX's
 * tokenizer_config.json; the converter reads that file, which a pruned checkpoint may lack).
 *
 * @example
 * ```ts
 * import { ggufTokenizerMetadata } from "@perfmamba/perfmamba";
 *
 * const tokenizer = {
 *   added_tokens: [{ id: 0, content: "<|endoftext|>", special: true }],
 *   pre_tokenizer: { type: "ByteLevel" },
 *   decoder: { type: "ByteLevel" },
 *   model: { type: "BPE", vocab: { "<|endoftext|>": 0, a: 1, b: 2, ab: 3 }, merges: ["a b"] },
 * };
 * const meta = ggufTokenizerMetadata(tokenizer, { vocabSize: 8, pre: "gpt-2", specialIds: { eos: 0 } });
 * console.log(meta.find((e) => e.key === "tokenizer.ggml.tokens")!.value.slice(2, 5)); // [ "b", "ab", "[PAD4]" ]
 * console.log(meta.find((e) => e.key === "tokenizer.ggml.token_type")!.value.slice(0, 5)); // [ 3, 1, 1, 1, 5 ]
 * ```
 *
 * @param tokenizer the parsed tokenizer.json
 * @param options the model's vocabulary size, the pre-tokenizer name, special ids
 * @param file the tokenizer's name in messages
 * @throws GgufTokenizerError for a tokenizer that is not byte-level BPE, or ids past the vocabulary
 */
export function ggufTokenizerMetadata(
  tokenizer: Json,
  options: GgufTokenizerOptions,
  file = "tokenizer.json",
): GgufMetadataEntry[] {
  const { vocabSize, pre } = options;
  checkGgufTokenizer(tokenizer, file);
  const model = tokenizer.model;
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new RangeError(`vocabSize ${vocabSize} is not valid`);
  const tokens: (string | undefined)[] = new Array(vocabSize);
  const types = new Array<number>(vocabSize).fill(GGUF_TOKEN_TYPES.NORMAL);
  const place = (id: Json, text: string, what: string) => {
    if (!Number.isInteger(id) || id < 0) throw new GgufTokenizerError(`${file}: ${what} has id ${id}`);
    if (id >= vocabSize) {
      throw new GgufTokenizerError(
        `${file}: ${what} has id ${id}, past the model's vocabulary of ${vocabSize} (another model's tokenizer?)`,
      );
    }
    tokens[id] = text;
  };
  for (const [text, id] of Object.entries(model.vocab ?? {})) place(id, text, `token ${JSON.stringify(text)}`);
  const added: Json[] = Array.isArray(tokenizer.added_tokens) ? tokenizer.added_tokens : [];
  for (const a of added) {
    if (typeof a?.content !== "string") throw new GgufTokenizerError(`${file}: an added token has no content`);
    const control = a.special === true || looksSpecial(a.content);
    // llama.cpp's converter pre-normalises user-defined spaces (SentencePiece's U+2581).
    place(a.id, control ? a.content : a.content.replaceAll("\u2581", " "), `added token ${JSON.stringify(a.content)}`);
    types[a.id] = control ? GGUF_TOKEN_TYPES.CONTROL : GGUF_TOKEN_TYPES.USER_DEFINED;
  }
  for (let i = 0; i < vocabSize; i++) {
    if (tokens[i] !== undefined) continue;
    tokens[i] = `[PAD${i}]`;
    types[i] = GGUF_TOKEN_TYPES.UNUSED;
  }
  const meta: GgufMetadataEntry[] = [
    { key: "tokenizer.ggml.model", type: "STRING", value: "gpt2" },
    { key: "tokenizer.ggml.pre", type: "STRING", value: pre },
    { key: "tokenizer.ggml.tokens", type: "ARRAY", arrayType: "STRING", value: tokens },
    { key: "tokenizer.ggml.token_type", type: "ARRAY", arrayType: "INT32", value: types },
    { key: "tokenizer.ggml.merges", type: "ARRAY", arrayType: "STRING", value: mergeStrings(model.merges, file) },
  ];
  // Special ids: the post-processor's template first, then config.json (gguf-py SpecialVocab: the first one set wins).
  const ids: SpecialTokenIds = {};
  const add: { bos?: boolean; eos?: boolean } = {};
  const idOf = (content: string | undefined) => added.find((a) => a.content === content)?.id;
  const { first, last } = templateSpecials(tokenizer.post_processor);
  if (first !== undefined && idOf(first) !== undefined) [ids.bos, add.bos] = [idOf(first), true];
  if (last !== undefined && idOf(last) !== undefined) [ids.eos, add.eos] = [idOf(last), true];
  for (const [k, v] of Object.entries(options.specialIds ?? {}) as [keyof SpecialTokenIds, number | undefined][]) {
    if (ids[k] === undefined && Number.isInteger(v) && v! >= 0 && v! < vocabSize) ids[k] = v;
  }
  // Neither says: GPT-2 / GPT-NeoX's tokenizer_config.json name "<|endoftext|>" as BOS and EOS (so does llama.cpp's
  // own GPT-NeoX vocabulary); without an id llama.cpp would assume 11 for a "gpt2" tokenizer.
  const endOfText = added.find((a) => a.content === "<|endoftext|>" && a.special === true)?.id;
  if (endOfText !== undefined && ids.bos === undefined && ids.eos === undefined) ids.bos = ids.eos = endOfText;
  for (const k of Object.keys(SPECIAL_KEYS) as (keyof SpecialTokenIds)[]) {
    if (ids[k] !== undefined) meta.push({ key: SPECIAL_KEYS[k], type: "UINT32", value: ids[k] });
  }
  if (add.bos !== undefined) meta.push({ key: "tokenizer.ggml.add_bos_token", type: "BOOL", value: add.bos });
  if (add.eos !== undefined) meta.push({ key: "tokenizer.ggml.add_eos_token", type: "BOOL", value: add.eos });
  return meta;
}

/**
 * The metadata of a model without a tokenizer (e.g. a 256-token test model): `tokenizer.ggml.model` "no_vocab" and
 * `<arch>.vocab_size`, from which llama.cpp makes that many placeholder tokens. Such a file is evaluated by token
 * ids; llama.cpp refuses to tokenize text with it.
 *
 * @example
 * ```ts
 * import { ggufNoVocabMetadata } from "@perfmamba/perfmamba";
 *
 * console.log(ggufNoVocabMetadata("mamba", 256).map((e) => `${e.key}=${e.value}`)); // [ "tokenizer.ggml.model=no_vocab", "mamba.vocab_size=256" ]
 * ```
 */
export function ggufNoVocabMetadata(arch: string, vocabSize: number): GgufMetadataEntry[] {
  return [
    { key: "tokenizer.ggml.model", type: "STRING", value: "no_vocab" },
    { key: `${arch}.vocab_size`, type: "UINT32", value: vocabSize },
  ];
}

/** `tokenizer.ggml.pre` names whose pre-tokenizer is GPT-2's regex (llama-vocab.cpp), which ByteLevel reproduces. */
const GPT2_REGEX_PRE = new Set(["gpt-2", "mpt", "olmo", "jais", "trillion", "granite-docling", ""]);

/**
 * A `tokenizer.json` object (for npm:@huggingface/tokenizers) from a GGUF's tokenizer metadata: llama.cpp's "gpt2"
 * byte-level BPE with a pre-tokenizer that is GPT-2's regex. NORMAL tokens form the BPE vocabulary, CONTROL and
 * USER_DEFINED tokens are added tokens (special: CONTROL), UNUSED padding is left out; BOS / EOS are added by a
 * TemplateProcessing post-processor when `add_bos_token` / `add_eos_token` say so. No normaliser (llama.cpp has
 * none for "gpt2"). Returns null for a file without a tokenizer ("no_vocab", "none", or no `tokenizer.ggml.model`).
 *
 * @example
 * ```ts
 * import { ggufTokenizerMetadata, tokenizerJsonFromGguf } from "@perfmamba/perfmamba";
 *
 * const tokenizer = {
 *   pre_tokenizer: { type: "ByteLevel" },
 *   decoder: { type: "ByteLevel" },
 *   model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] },
 * };
 * const meta = new Map(ggufTokenizerMetadata(tokenizer, { vocabSize: 4, pre: "gpt-2" }).map((e) => [e.key, e]));
 * console.log(tokenizerJsonFromGguf(meta)!.model.vocab); // { a: 0, b: 1, ab: 2 }
 * ```
 *
 * @param metadata the GGUF's metadata by key (`GgufFile.metadata`)
 * @param file the GGUF's name in messages
 * @throws GgufTokenizerError for another tokenizer model or pre-tokenizer, or malformed tokenizer arrays
 */
export function tokenizerJsonFromGguf(
  metadata: ReadonlyMap<string, GgufMetadataEntry>,
  file = "model.gguf",
): Json | null {
  const str = (key: string) => metadata.get(key)?.type === "STRING" ? metadata.get(key)!.value as string : undefined;
  const kind = str("tokenizer.ggml.model");
  if (kind === undefined || kind === "no_vocab" || kind === "none") return null;
  if (kind !== "gpt2") {
    throw new GgufTokenizerError(
      `${file}: tokenizer.ggml.model "${kind}" is not supported (only "gpt2", byte-level BPE)`,
    );
  }
  const pre = str("tokenizer.ggml.pre") ?? "";
  if (!GPT2_REGEX_PRE.has(pre)) {
    throw new GgufTokenizerError(
      `${file}: tokenizer.ggml.pre "${pre}" is not supported (only GPT-2's pre-tokenizer regex: ` +
        `${[...GPT2_REGEX_PRE].filter((p) => p).join(", ")})`,
    );
  }
  const array = (key: string, element: string[]): unknown[] => {
    const e = metadata.get(key);
    if (!e || e.type !== "ARRAY" || !element.includes(e.arrayType!)) {
      throw new GgufTokenizerError(`${file}: ${key} is missing or not an array of ${element.join(" / ")}`);
    }
    return e.value;
  };
  const tokens = array("tokenizer.ggml.tokens", ["STRING"]) as string[];
  const types = metadata.has("tokenizer.ggml.token_type")
    ? array("tokenizer.ggml.token_type", ["INT32", "UINT32", "INT8", "UINT8", "INT16", "UINT16"]) as number[]
    : tokens.map(() => GGUF_TOKEN_TYPES.NORMAL);
  if (types.length !== tokens.length) {
    throw new GgufTokenizerError(
      `${file}: tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`,
    );
  }
  const merges = array("tokenizer.ggml.merges", ["STRING"]) as string[];
  const vocab: Record<string, number> = {};
  const added: Json[] = [];
  tokens.forEach((t, id) => {
    const type = types[id];
    if (type === GGUF_TOKEN_TYPES.CONTROL || type === GGUF_TOKEN_TYPES.USER_DEFINED) {
      const special = type === GGUF_TOKEN_TYPES.CONTROL;
      added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: !special, special });
    } else if (type !== GGUF_TOKEN_TYPES.UNUSED && !Object.hasOwn(vocab, t)) vocab[t] = id;
  });
  const num = (key: string) => {
    const e = metadata.get(key);
    return e && typeof e.value === "number" && e.value >= 0 && e.value < tokens.length ? e.value : undefined;
  };
  const flag = (key: string) => metadata.get(key)?.value === true;
  const byteLevelPart = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const bos = num(SPECIAL_KEYS.bos), eos = num(SPECIAL_KEYS.eos);
  const addBos = flag("tokenizer.ggml.add_bos_token") && bos !== undefined;
  const addEos = flag("tokenizer.ggml.add_eos_token") && eos !== undefined;
  let post: Json = byteLevelPart;
  if (addBos || addEos) {
    const special = (id: number) => ({ SpecialToken: { id: tokens[id], type_id: 0 } });
    const seq = (s: string) => ({ Sequence: { id: s, type_id: 0 } });
    const wrap = (body: Json[]) => [...(addBos ? [special(bos!)] : []), ...body, ...(addEos ? [special(eos!)] : [])];
    const ids = [...new Set([...(addBos ? [bos!] : []), ...(addEos ? [eos!] : [])])];
    post = {
      type: "TemplateProcessing",
      single: wrap([seq("A")]),
      pair: wrap([seq("A"), seq("B")]),
      special_tokens: Object.fromEntries(
        ids.map((id) => [tokens[id], { id: tokens[id], ids: [id], tokens: [tokens[id]] }]),
      ),
    };
  }
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevelPart,
    post_processor: post,
    decoder: byteLevelPart,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
