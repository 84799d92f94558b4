"""Chain-of-Thought Prompting Elicits Reasoning in Large Language Models (Wei et al., 2022)."""
