// Functions shared by both codecs.
#include "cimagecodecs.h"

#include <stdlib.h>

void cic_free(void *pointer) {
    free(pointer);
}
