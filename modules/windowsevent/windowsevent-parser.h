#ifndef WINDOWSEVENT_PARSER_H_INCLUDED
#define WINDOWSEVENT_PARSER_H_INCLUDED

#include "cfg-parser.h"
#include "driver.h"

extern CfgParser windowsevent_parser;

CFG_PARSER_DECLARE_LEXER_BINDING(windowsevent_, windowsevent_, LogDriver **)

#endif
