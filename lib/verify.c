typedef int dlor_placeholder_verify;
