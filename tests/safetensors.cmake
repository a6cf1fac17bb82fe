# safetensors reader and the JSON parser under it.
dlor_c_test(test_json test_json.c)
dlor_c_test(test_safetensors test_safetensors.c)
dlor_py_test(test_interop_safetensors test_interop_safetensors.py)
