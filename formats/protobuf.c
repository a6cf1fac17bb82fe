/* placeholder: implementation in progress */
#include "dlor_readers.h"
