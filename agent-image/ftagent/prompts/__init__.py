"""Prompt templates (jinja2, ``*.j2``) of the LLM planner, shipped as package data.

Rendered by :func:`ftagent.prompting.render`; the planner code holds no prompt text.
"""
