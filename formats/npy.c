/* placeholder: implementation in progress */
#include "dlor_error.h"
typedef int dlor_placeholder_npy;
