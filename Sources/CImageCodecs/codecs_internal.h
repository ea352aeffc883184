// Helpers shared by the codec files of CImageCodecs (not part of the public header).
#pragma once

#include <stddef.h>
#include <string.h>

/// Copies `text` into the caller's message buffer, always NUL-terminated, truncating if needed.
static inline void cic_set_message(char *message, size_t capacity, const char *text) {
    if (message == NULL || capacity == 0) {
        return;
    }
    size_t length = strlen(text);
    if (length >= capacity) {
        length = capacity - 1;
    }
    memcpy(message, text, length);
    message[length] = '\0';
}
