#ifdef __cplusplus
}
#undef template
#undef new
#undef this
#undef protected
#endif
