typedef int dlor_placeholder_opts;
