"""The options of dlor convert, verify, run and bench checked together: each refused
combination or value exits 2 with one line, "dlor CMD: " and the message naming
the options (and the value refused), before any file is read or written. The
expected lines are written out in full: a message that changes is a change of
the command's interface."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

_, path, fresh = scratch("usage_lines")
digits = os.path.join(SRC, "samples", "digits")
src, X, Y = (os.path.join(digits, f) for f in ("digits.safetensors", "x_test.npy", "y_test.npy"))
out = path("out.dlor")

CONVERT = [
    # the layer form
    (["--method", "foo"],
     "--method must be mul, add, lowrank, svd, auto or qlr, not 'foo'"),
    (["--allocate", "max"],
     "--allocate takes max, sum or uniform and goes with --budget"),
    (["--calib", "x.npy", "--calib-acts", "a.npz"],
     "--calib and --calib-acts do not go together: give the layers' inputs one way"),
    (["--method", "mul", "--tol", "0.1"],
     "--tol, --budget, --factors, --calib and --calib-acts choose compressed forms; use --method "
     "auto, lowrank or svd (mul and add are exact)"),
    (["--method", "add", "--calib-acts", "a.npz"],
     "--tol, --budget, --factors, --calib and --calib-acts choose compressed forms; use --method "
     "auto, lowrank or svd (mul and add are exact)"),
    (["--budget-bits", "4", "--method", "lowrank"],
     "--budget-bits goes with --method auto and chooses each layer's dtypes (not --dtype or --factors)"),
    (["--budget-bits", "4", "--dtype", "q8"],
     "--budget-bits goes with --method auto and chooses each layer's dtypes (not --dtype or --factors)"),
    (["--budget-bits", "4", "--factors", "2"],
     "--budget-bits goes with --method auto and chooses each layer's dtypes (not --dtype or --factors)"),
    (["--budget-bits", "40"],
     "--budget-bits must be a number of bits per weight in (0, 32], not '40'"),
    (["--budget-bits", "nan"],
     "--budget-bits must be a number of bits per weight in (0, 32], not 'nan'"),
    (["--method", "qlr", "--budget", "0.5"],
     "--method qlr takes --rank R or --tol T (not --budget or --factors)"),
    (["--method", "qlr", "--rank", "4", "--factors", "2"],
     "--method qlr takes --rank R or --tol T (not --budget or --factors)"),
    (["--method", "lowrank"],
     "a compressed form needs exactly one target: --rank R, --tol T, --budget F or --budget-bits B"),
    (["--rank", "4", "--tol", "0.1"],
     "a compressed form needs exactly one target: --rank R, --tol T, --budget F or --budget-bits B"),
    (["--budget", "0.5", "--budget-bits", "4"],
     "a compressed form needs exactly one target: --rank R, --tol T, --budget F or --budget-bits B"),
    (["--tol", "-1"],
     "--tol must be a positive number, not '-1'"),
    (["--tol", "x"],
     "--tol must be a positive number, not 'x'"),
    (["--budget", "2"],
     "--budget must be a fraction in (0, 1], not '2'"),
    (["--budget", "0.5", "--allocate", "foo"],
     "--allocate takes max, sum or uniform and goes with --budget"),
    (["--factors", "0", "--tol", "0.1"],
     "--factors must be an integer from 1 to 4096, not '0'"),
    (["--factors", "5000", "--tol", "0.1"],
     "--factors must be an integer from 1 to 4096, not '5000'"),
    (["--tol", "0.1", "--basis", "schur"],
     "--basis and --alpha apply to the exact forms (mul, add) only"),
    (["--tol", "0.1", "--alpha", "1"],
     "--basis and --alpha apply to the exact forms (mul, add) only"),
    (["--basis", "foo"],
     "--basis must be schur, random or svd, not 'foo'"),
    (["--method", "add", "--basis", "schur"],
     "--basis schur does not apply to --method add (mul: schur|random; add: svd)"),
    (["--basis", "svd"],
     "--basis svd does not apply to --method mul (mul: schur|random; add: svd)"),
    (["--rank", "x"],
     "--rank must be a positive integer, not 'x'"),
    (["--rank", "0"],
     "--rank must be a positive integer, not '0'"),
    (["--method", "lowrank", "--rank", "-3"],
     "--rank must be a positive integer, not '-3'"),
    (["--alpha", "x"],
     "--alpha must be a finite number or 'auto', not 'x'"),
    (["--alpha", "0"],
     "--alpha 0 is not allowed with --method mul (the factors must be invertible)"),
    (["--seed", "-1"],
     "--seed must be a non-negative integer, not '-1'"),
    (["--dtype", "i32"],
     "--dtype must be f32, f64, f16, bf16, q8 or q4, not 'i32'"),
    (["--correction-dtype", "f16"],
     "--correction-dtype goes with --method qlr"),
    (["--method", "lowrank", "--rank", "4", "--correction-dtype", "f16"],
     "--correction-dtype goes with --method qlr"),
    (["--method", "qlr", "--dtype", "f16", "--rank", "4"],
     "--method qlr quantizes its base: --dtype must be q4 or q8, not 'f16'"),
    (["--method", "qlr", "--rank", "4", "--correction-dtype", "q4"],
     "--correction-dtype must be f16, f32, bf16 or q8, not 'q4'"),
    (["--method", "qlr", "--rank", "4", "--correction-dtype", "f64"],
     "--correction-dtype must be f16, f32, bf16 or q8, not 'f64'"),
    (["--method", "qlr", "--rank", "4", "--correction-dtype", "x"],
     "--correction-dtype must be f16, f32, bf16 or q8, not 'x'"),
    (["--jobs", "2000"],
     "--jobs must be an integer from 0 to 1024, not '2000'"),
    (["--jobs", "-1"],
     "--jobs must be an integer from 0 to 1024, not '-1'"),
    (["--shard", "1/1"],
     "--shard takes I/N with 0 <= I < N <= 65536, not '1/1'"),
    (["--shard", "x"],
     "--shard takes I/N with 0 <= I < N <= 65536, not 'x'"),
    (["--shard", "0/2", "--budget", "0.5"],
     "--shard does not go with --budget or --budget-bits (the budget is shared by all layers: "
     "convert in one process, or use --tol or --rank)"),
    (["--shard", "0/2", "--budget-bits", "4"],
     "--shard does not go with --budget or --budget-bits (the budget is shared by all layers: "
     "convert in one process, or use --tol or --rank)"),
    (["--shard", "0/2", "--emit", "e.safetensors"],
     "--shard does not go with --emit, --emit-dense or --emit-onnx (emit from the merged file's "
     "conversion in one process)"),
    (["--shard", "0/2", "--emit-onnx", "e.onnx"],
     "--shard does not go with --emit, --emit-dense or --emit-onnx (emit from the merged file's "
     "conversion in one process)"),
    (["--layout", "cols"],
     "--layout must be panels or rows, not 'cols'"),
    (["--h", "2"],
     "--construction, --h, --c and --beta go with --form network"),
    (["--beta", "paired"],
     "--construction, --h, --c and --beta go with --form network"),
    (["--form", "layer", "--c", "1"],
     "--construction, --h, --c and --beta go with --form network"),
    # the network form
    (["--form", "network", "--method", "add"],
     "--method does not go with --form network (it converts every layer of the model's graph exactly)"),
    (["--form", "network", "--tol", "0.1"],
     "--tol does not go with --form network (it converts every layer of the model's graph exactly)"),
    (["--form", "network", "--plan-out", "p.txt"],
     "--plan-out does not go with --form network (it converts every layer of the model's graph exactly)"),
    (["--form", "network", "--include", "a*"],
     "--include does not go with --form network (it converts every layer of the model's graph exactly)"),
    (["--form", "network", "--set", "a*:rank=2"],
     "--set does not go with --form network (it converts every layer of the model's graph exactly)"),
    (["--form", "network", "--force"],
     "--force does not go with --form network (it converts every layer of the model's graph exactly)"),
    (["--form", "foo"],
     "--form must be layer (default) or network, not 'foo'"),
    (["--form", "foo", "--dry-run"],
     "--dry-run does not go with --form network (it converts every layer of the model's graph exactly)"),
    (["--form", "network", "--jobs", "2"],
     "--jobs does not apply to --form network"),
    (["--form", "network", "--calib-acts", "a.npz"],
     "--calib-acts does not apply to --form network"),
    (["--form", "network", "--layout", "cols"],
     "--layout must be panels or rows, not 'cols'"),
    (["--form", "network", "--construction", "x"],
     "--construction must be deep or wide, not 'x'"),
    (["--form", "network", "--beta", "paired"],
     "--beta paired applies to --construction wide only"),
    (["--form", "network", "--construction", "wide", "--beta", "x"],
     "--beta must be paired or paper, not 'x'"),
    (["--form", "network", "--construction", "wide", "--basis", "schur"],
     "--basis schur applies to --construction deep only (wide splits W by its SVD)"),
    (["--form", "network", "--basis", "svd"],
     "--basis must be schur or random for the deep network form, not 'svd'"),
    (["--form", "network", "--construction", "wide", "--alpha", "1"],
     "--alpha 1 applies to --construction deep only (wide components have alpha 0)"),
    (["--form", "network", "--alpha", "0"],
     "--alpha must be a nonzero finite number or 'auto', not '0'"),
    (["--form", "network", "--rank", "0"],
     "--rank must be a positive integer, not '0'"),
    (["--form", "network", "--seed", "x"],
     "--seed must be a non-negative integer, not 'x'"),
    (["--form", "network", "--c", "x"],
     "--c must be a finite number, not 'x'"),
    (["--form", "network", "--h", "-1"],
     "--h must be a positive number or 'auto', not '-1'"),
    (["--form", "network", "--dtype", "f16"],
     "the network form stores f32 or f64 (--dtype), not 'f16'"),
]

# verify IN OUT.dlor (OUT.dlor need not exist: the options are checked first)
VERIFY = [
    (["--tol", "x"],
     "--tol must be a non-negative number, not 'x'"),
    (["--tol", "-1"],
     "--tol must be a non-negative number, not '-1'"),
    (["--samples", "0"],
     "--samples must be an integer from 1 to 16777216, not '0'"),
    (["--samples", "99999999"],
     "--samples must be an integer from 1 to 16777216, not '99999999'"),
    (["--samples", "x"],
     "--samples must be an integer from 1 to 16777216, not 'x'"),
    (["--seed", "-2"],
     "--seed must be a non-negative integer, not '-2'"),
    (["--inputs", X, "--samples", "4"],
     "--inputs and --samples do not go together (the inputs are the samples)"),
    (["--labels", Y],
     "--labels goes with --inputs (the labels of those inputs)"),
    (["--activation", "RELU"],
     "--activation must be relu, leaky_relu, sigmoid, tanh, softplus, gelu, gelu_tanh, silu or "
     "identity, not 'RELU'"),
    (["--min-cosine", "2"],
     "--min-cosine must be a number from -1 to 1, not '2'"),
    (["--min-cosine", "x"],
     "--min-cosine must be a number from -1 to 1, not 'x'"),
    (["--max-rel-error", "-1"],
     "--max-rel-error must be a non-negative number, not '-1'"),
    (["--min-cosine", "0.5"],
     "--min-cosine and --max-rel-error hold the outputs on --inputs to a tolerance; give --inputs"),
    (["--max-rel-error", "0.5"],
     "--min-cosine and --max-rel-error hold the outputs on --inputs to a tolerance; give --inputs"),
    (["--tol", "x", "--samples", "0"],
     "--tol must be a non-negative number, not 'x'"),
    (["--labels", Y, "--activation", "foo"],
     "--labels goes with --inputs (the labels of those inputs)"),
    (["--activation", "foo", "--min-cosine", "3"],
     "--activation must be relu, leaky_relu, sigmoid, tanh, softplus, gelu, gelu_tanh, silu or "
     "identity, not 'foo'"),
]

# run MODEL -i X.npy -o Y.npy (the options are checked before the model is read)
RUN = [
    (["--batch", "0"],
     "--batch must be an integer from 1 to 1048576, not '0'"),
    (["--batch", "2000000"],
     "--batch must be an integer from 1 to 1048576, not '2000000'"),
    (["--batch", "x"],
     "--batch must be an integer from 1 to 1048576, not 'x'"),
    (["--threads", "0"],
     "--threads must be an integer from 1 to 256, not '0'"),
    (["--threads", "257"],
     "--threads must be an integer from 1 to 256, not '257'"),
    (["--threads", "x", "--batch", "0"],
     "--batch must be an integer from 1 to 1048576, not '0'"),
    (["--dtype", "f16"],
     "--dtype must be f32 or f64, not 'f16'"),
    (["--dtype", "x", "--threads", "0"],
     "--threads must be an integer from 1 to 256, not '0'"),
    (["--dtype", "f64", "--threads", "2"],
     "--threads goes with --dtype f32 (the float64 pass runs on one thread)"),
    (["--activation", "RELU"],
     "--activation must be relu, leaky_relu, sigmoid, tanh, softplus, gelu, gelu_tanh, silu or "
     "identity, not 'RELU'"),
    (["--activation", "foo", "--dtype", "f64", "--threads", "4"],
     "--threads goes with --dtype f32 (the float64 pass runs on one thread)"),
    (["--quant-acts", "--dtype", "f64"],
     "--quant-acts goes with --dtype f32 (the float64 pass has float activations)"),
    (["--quant-acts", "--dtype", "f64", "--activation", "foo"],
     "--activation must be relu, leaky_relu, sigmoid, tanh, softplus, gelu, gelu_tanh, silu or "
     "identity, not 'foo'"),
]

# bench MODEL.dlor --dense SRC --json FILE (the options are checked before any file is read)
BENCH = [
    (["--batch", "0"],
     "--batch must be an integer from 1 to 65536, not '0'"),
    (["--batch", "65537"],
     "--batch must be an integer from 1 to 65536, not '65537'"),
    (["--threads", "65"],
     "--threads must be an integer from 1 to 64, not '65'"),
    (["--threads", "x", "--batch", "x"],
     "--batch must be an integer from 1 to 65536, not 'x'"),
    (["--time", "0"],
     "--time must be a number of seconds in (0, 600], not '0'"),
    (["--time", "601"],
     "--time must be a number of seconds in (0, 600], not '601'"),
    (["--time", "nan", "--threads", "0"],
     "--threads must be an integer from 1 to 64, not '0'"),
]


def refused(cmd, args, msg, written):
    rc, so, se = run(cmd, *args)
    what = f"{cmd} {' '.join(args)}"
    check(rc == 2, f"{what}: exit status {rc}, expected 2")
    check(se == f"dlor {cmd}: {msg}\n", f"{what}: stderr {se!r}, expected {msg!r}")
    check(so == "" and not os.path.exists(written), f"{what}: printed {so!r} or wrote {written}")


for args, msg in CONVERT:
    fresh(out)
    refused("convert", [src, "-o", out, *args], msg, out)
for args, msg in VERIFY:
    report = fresh("report.json")
    refused("verify", [src, out, "--json", report, *args], msg, report)
for args, msg in RUN:
    y = fresh("y.npy")
    refused("run", [src, "-i", X, "-o", y, *args], msg, y)
for args, msg in BENCH:
    report = fresh("bench.json")
    refused("bench", [out, "--dense", src, "--json", report, *args], msg, report)
finish()
