#include <stdio.h>
int main(void) { puts("portway"); return 0; }
