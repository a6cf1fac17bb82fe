typedef int dlor_placeholder_crc32;
