/**
 * `profile --preset paper`: the plan it sets (the paper's Table 1: both architectures at 130m, batch 8, L 64, 512,
 * 2048, prefill and decode), explicit flags overriding it, and the combinations it refuses by name (exit 2).
 */
import assert from "node:assert/strict";
import { UsageError } from "../../cli/args.ts";
import { spec } from "../../cli/commands/profile.ts";
import { parseWithPreset, PROFILE_PRESETS } from "../../cli/commands/profile_preset.ts";
import { PAPER_TABLE1 } from "../../cli/report/paper_table1.ts";
import { cli } from "./_cli.ts";

Deno.test("profile --preset paper: the paper's Table 1 plan", () => {
  const { flags, preset } = parseWithPreset(spec, ["--preset", "paper"])!;
  assert.equal(preset, "paper");
  assert.equal(flags.arch, "both");
  assert.equal(flags.size, "130m");
  assert.equal(flags.batch, "8");
  assert.equal(flags.mode, "both");
  // The lengths are the table's own.
  assert.equal(flags.seqlens, [...new Set(PAPER_TABLE1.map((r) => r.seqLen))].join(","));
  assert.equal(flags.seqlens, "64,512,2048");
  // Flags the preset does not set keep the command's defaults.
  assert.equal(flags["max-ms"], "5000");
  assert.equal(flags.precision, "0.03");
  assert.equal(flags.format, "table");
  assert.deepEqual(Object.keys(PROFILE_PRESETS.paper).sort(), ["arch", "batch", "mode", "seqlens", "size"]);
});

Deno.test("profile --preset paper: explicit flags override the preset's values, in any order", () => {
  const a = parseWithPreset(spec, ["--batch", "2", "--preset", "paper", "--seqlens", "64", "--arch", "mamba2"])!;
  assert.deepEqual([a.flags.batch, a.flags.seqlens, a.flags.arch, a.flags.size], ["2", "64", "mamba2", "130m"]);
  const b = parseWithPreset(spec, ["--preset=paper", "--mode", "prefill", "--size", "130m", "--max-ms", "900"])!;
  assert.deepEqual([b.flags.mode, b.flags["max-ms"], b.flags.batch], ["prefill", "900", "8"]);
  // Without --preset: the command's own defaults, no preset.
  const c = parseWithPreset(spec, [])!;
  assert.deepEqual([c.preset, c.flags.batch, c.flags.seqlens], [null, "1", "64,512,2048"]);
});

Deno.test("profile --preset: contradicting flags and unknown names are refused by name", () => {
  const refused = (argv: string[], re: RegExp) =>
    assert.throws(() => parseWithPreset(spec, argv), (e) => e instanceof UsageError && re.test(e.message));
  refused(["--preset", "paper", "--dims", "d_model=64,n_layer=2"], /^--preset paper with --dims: .*drop one of them$/);
  refused(["--preset", "paper", "--model", "x"], /^--preset paper with --model:/);
  refused(["--preset", "paper", "--size", "370m"], /^--preset paper with --size: .* at 130m, not 370m/);
  refused(["--preset", "paper", "--mode", "decode"], /^--preset paper with --mode: the paper's Table 1 is prefill/);
  refused(["--preset", "table2"], /^--preset must be one of paper, got "table2"$/);
});

Deno.test("cli profile --preset paper --dims …: exit 2, one line naming both flags, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cli("profile", "--preset", "paper", "--dims", "d_model=64,n_layer=2", "--out", `${dir}/r`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--preset paper with --dims/);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
