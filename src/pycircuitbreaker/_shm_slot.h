/* A shared memory slot (see _shm_segment.py), read and updated by the compiled core.
 *
 * The hot path reads a slot's summary word with no lock: state, "a success changes
 * nothing" and epoch in one aligned 64-bit word, which every update rewrites last. A
 * counted error that opens nothing, and a success that resets the count, are updated
 * here under the slot's robust mutex, with the same undo copy the Python side keeps;
 * everything else (transitions, trial calls, windows, a busy or damaged slot) is the
 * shared state's, in Python. _core_c.pyx checks these offsets against _shm_segment's
 * when a breaker takes its slot.
 */
#ifndef PCB_SHM_SLOT_H
#define PCB_SHM_SLOT_H

#include <Python.h>

/* The slot's layout (_shm_segment.py): byte offsets and field positions. */
#define PCB_SHM_UNDO_FLAG 328
#define PCB_SHM_UPDATES 332
#define PCB_SHM_STATE 336
#define PCB_SHM_FIELDS 15
#define PCB_SHM_UNDO 1480
#define PCB_SHM_S 0
#define PCB_SHM_E 1
#define PCB_SHM_R 3
#define PCB_SHM_G 5
#define PCB_SHM_SUMMARY 14
#define PCB_SHM_UNDO_FIELDS 2 /* the undo flag: only the fields were copied */
/* The bytes of a slot the C code touches: up to the end of the fields' undo copy. */
#define PCB_SHM_SLOT_BYTES (PCB_SHM_UNDO + PCB_SHM_FIELDS * 8)
/* The summary word: state in bits 0-3, "quiet" (a success changes nothing) in bit 4,
 * the epoch from bit 8 on. */
#define PCB_SHM_QUIET 0x10
#define PCB_SHM_EPOCH_SHIFT 8
#define PCB_SHM_EPOCH_MASK ((1ULL << 55) - 1)
#define PCB_SHM_MAX_INTEGER (1LL << 53)

/* An update's answer: done here, or the shared state's to make. */
#define PCB_SHM_DONE 1
#define PCB_SHM_HAND_OVER 0

#if defined(__linux__)
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define PCB_SHM_AVAILABLE 1

static long long *pcb_shm_fields(char *slot) { return (long long *)(slot + PCB_SHM_STATE); }

/* Return the slot's summary word, as its last update left it. */
static long long pcb_shm_summary(char *slot) {
    return __atomic_load_n(&pcb_shm_fields(slot)[PCB_SHM_SUMMARY], __ATOMIC_ACQUIRE);
}

/* Return one field read with no lock: a whole value, maybe of an update after the
 * summary was read (read the summary again after it to tell). */
static long long pcb_shm_peek(char *slot, int field) {
    return __atomic_load_n(&pcb_shm_fields(slot)[field], __ATOMIC_ACQUIRE);
}

/* Return the slot's summary word if it agrees with the fields it sums up, else -1 (an
 * update under way, or a stray write): then the shared state reads the slot. */
static long long pcb_shm_checked_summary(char *slot) {
    long long summary = pcb_shm_summary(slot);
    if ((summary & 0xe0) != 0 || pcb_shm_peek(slot, PCB_SHM_S) != (summary & 0xf)
            || ((unsigned long long)pcb_shm_peek(slot, PCB_SHM_G) & PCB_SHM_EPOCH_MASK)
                != (unsigned long long)summary >> PCB_SHM_EPOCH_SHIFT
            || ((summary & PCB_SHM_QUIET) && pcb_shm_peek(slot, PCB_SHM_E) != 0))
        return -1;
    return summary;
}

/* Return the host's monotonic clock in ms, the segment's clock. */
static long long pcb_shm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lock the slot without waiting: 1 locked, 0 busy (or unusable). A mutex whose owner
 * died is handed to ``recover`` (the segment's undo, in Python) before it is used. */
static int pcb_shm_lock(char *slot, PyObject *recover) {
    pthread_mutex_t *mutex = (pthread_mutex_t *)slot;
    int result = pthread_mutex_trylock(mutex);
    if (result == 0) return 1;
    if (result != EOWNERDEAD) return 0;
    PyObject *done = PyObject_CallNoArgs(recover);
    if (done == NULL) PyErr_WriteUnraisable(recover);
    Py_XDECREF(done);
    pthread_mutex_consistent(mutex);
    return 1;
}

/* Unlock the slot after an update (or none): the undo copy is void, one more update. */
static void pcb_shm_unlock(char *slot, int updated) {
    if (updated) {
        *(unsigned int *)(slot + PCB_SHM_UNDO_FLAG) = 0;
        *(unsigned int *)(slot + PCB_SHM_UPDATES) += 1;
    }
    pthread_mutex_unlock((pthread_mutex_t *)slot);
}

/* Take the undo copy of the fields before changing them. */
static void pcb_shm_save(char *slot) {
    memcpy(slot + PCB_SHM_UNDO, slot + PCB_SHM_STATE, PCB_SHM_FIELDS * sizeof(long long));
    __atomic_store_n((unsigned int *)(slot + PCB_SHM_UNDO_FLAG), PCB_SHM_UNDO_FIELDS,
                     __ATOMIC_RELEASE);
}

/* Write the error count, then the summary word that says whether it is zero. */
static void pcb_shm_set_errors(char *slot, long long errors) {
    long long *fields = pcb_shm_fields(slot);
    long long summary = fields[PCB_SHM_SUMMARY] & ~(long long)PCB_SHM_QUIET;
    __atomic_store_n(&fields[PCB_SHM_E], errors, __ATOMIC_RELAXED);
    if (errors == 0) summary |= PCB_SHM_QUIET;
    __atomic_store_n(&fields[PCB_SHM_SUMMARY], summary, __ATOMIC_RELEASE);
}

/* Whether the locked slot holds a state this update can read: else the shared state
 * finds it invalid and repairs it. */
static int pcb_shm_sane(long long *fields) {
    return fields[PCB_SHM_S] >= 0 && fields[PCB_SHM_S] < 6 && fields[PCB_SHM_E] >= 0
        && fields[PCB_SHM_E] < PCB_SHM_MAX_INTEGER;
}

/* Lock the slot and return its fields, if it is free and sane; else NULL, unlocked. */
static long long *pcb_shm_open(char *slot, PyObject *recover) {
    if (!pcb_shm_lock(slot, recover)) return NULL;
    if (!pcb_shm_sane(pcb_shm_fields(slot))) {
        pcb_shm_unlock(slot, 0);
        return NULL;
    }
    return pcb_shm_fields(slot);
}

/* Count an error of a call admitted in ``epoch`` while CLOSED, DISABLED or METRICS_ONLY:
 * DONE when counted (or late: admitted before the latest transition), HAND_OVER when
 * it would open the breaker (or count a would-be opening), or the slot is busy. */
static int pcb_shm_error(char *slot, PyObject *recover, unsigned long long epoch,
                         long long threshold, int closed, int metrics_only, int disabled) {
    long long *fields = pcb_shm_open(slot, recover);
    long long state;
    if (fields == NULL) return PCB_SHM_HAND_OVER;
    if ((unsigned long long)fields[PCB_SHM_G] != epoch) {
        pcb_shm_unlock(slot, 0);
        return PCB_SHM_DONE; /* late: not counted */
    }
    state = fields[PCB_SHM_S];
    if (!(state == closed || state == disabled || state == metrics_only)
            || (state != disabled && fields[PCB_SHM_E] + 1 >= threshold)) {
        pcb_shm_unlock(slot, 0);
        return PCB_SHM_HAND_OVER;
    }
    pcb_shm_save(slot);
    pcb_shm_set_errors(slot, fields[PCB_SHM_E] + 1);
    pcb_shm_unlock(slot, 1);
    return PCB_SHM_DONE;
}

/* Settle a success of a call admitted in ``epoch`` while CLOSED, DISABLED or
 * METRICS_ONLY with errors counted: reset the count (NET_ERROR: take one off). */
static int pcb_shm_success(char *slot, PyObject *recover, unsigned long long epoch,
                           int net_error, int closed, int metrics_only, int disabled) {
    long long *fields = pcb_shm_open(slot, recover);
    long long state;
    if (fields == NULL) return PCB_SHM_HAND_OVER;
    state = fields[PCB_SHM_S];
    if ((unsigned long long)fields[PCB_SHM_G] != epoch
            || !(state == closed || state == disabled || state == metrics_only)
            || fields[PCB_SHM_E] == 0) {
        pcb_shm_unlock(slot, 0);
        return PCB_SHM_DONE; /* late, or nothing to reset */
    }
    pcb_shm_save(slot);
    pcb_shm_set_errors(slot, net_error ? fields[PCB_SHM_E] - 1 : 0);
    pcb_shm_unlock(slot, 1);
    return PCB_SHM_DONE;
}

#else /* no robust process-shared mutexes: SharedMemoryStorage refuses to be built */

#define PCB_SHM_AVAILABLE 0
static long long pcb_shm_summary(char *slot) { (void)slot; return -1; }
static long long pcb_shm_checked_summary(char *slot) { (void)slot; return -1; }
static long long pcb_shm_peek(char *slot, int field) { (void)slot; (void)field; return 0; }
static long long pcb_shm_now_ms(void) { return 0; }
static int pcb_shm_error(char *slot, PyObject *recover, unsigned long long epoch,
                         long long threshold, int closed, int metrics_only, int disabled) {
    return PCB_SHM_HAND_OVER;
}
static int pcb_shm_success(char *slot, PyObject *recover, unsigned long long epoch,
                           int net_error, int closed, int metrics_only, int disabled) {
    return PCB_SHM_HAND_OVER;
}

#endif
#endif
