typedef int dlor_placeholder_sha256;
