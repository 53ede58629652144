"""English question templates, grouped by ``route domain`` (same format as the Chinese ones)."""

TEMPLATES_EN = """
## direct none
What kind of {animal} is this?
what breed is this {animal}
What color is the {animal}?
How many {animal}s are in the picture?
Where is the {animal} in this photo?
What is the {animal} doing?
What's next to the {animal}?
What {plant} is this?
Can you identify this {plant}?
What color are the flowers on this {plant}?
What's in this {photo}?
Describe this {photo}.
Describe the {photo} in detail
Give me a one-line summary of this {photo}
Where was this {photo} taken?
How many people are in this {photo}?
What are the people in the {photo} wearing?
What's on the far left of the {photo}?
What is the object in the middle of the {photo}?
What's in the background of this {photo}?
What is this?
what is that thing
What color is the {obj}?
Where is the {obj}?
What brand is the {obj} on the table?
How many {obj}s can you see?
What's on top of the {obj}?
Is there a {obj} in this picture?
Is the {obj} on or off?
What's in this {place}?
How many people are in the {place}?
Are the lights on in the {place}?
Describe the {place}
Is it day or night in this {place}?
What color are the walls of the {place}?
Which {place} is this?
What does the {doc} say?
Read the text on the {doc} for me
What's the title of the {doc}?
What date is mentioned on the {doc}?
Type out the words on this {doc}
What does the last line of the {doc} say?
What's the phone number on the {doc}?
What address is on the {doc}?
What language is the {doc} written in?
Transcribe the {doc}
Extract all the text from this {doc}
What time does the event on the {doc} start?
What is shown in this {screen}?
Who sent the message in this {screen}?
What time is shown in the {screen}?
What app is this {screen} from?
What's the heading at the top of the {screen}?
Which bar in the {chart} is the tallest?
What does the x-axis of the {chart} represent?
How many categories are in this {chart}?
Which month is lowest on the {chart}?
Read off the values in the {chart}
What's the title of this {chart}?
What does the red line in the {chart} represent?
What dish is this {food}?
How many pieces of {food} are on the plate?
What toppings are on the {food}?
What ingredients can you see in this {food}?
What brand is this {product}?
What color is the {product}?
What logo is on the {product}?
What model number is printed on the {product}?
What does the tag on the {product} say?
What color is the {vehicle}?
What make is this {vehicle}?
What's the license plate on the {vehicle}?
What kind of {vehicle} is this?
What does the {problem} say?
Read me the {problem}
How many parts does this {problem} have?
Which number is this {problem}?
What programming language is this {code}?
What does line 3 of the {code} say?
What's the exact error message in the {code}?
How many functions are in this {code}?
What's marked in red on the map?
What street names are on the map?
What's on the menu?
What is the first item on the menu?
What does the shop sign say?
Which way does the road sign point?
What does the sign recommend?
What does the poster suggest we do?
What warnings are listed on the label?
What reason does the notice give for the closure?
What consequences does the leaflet list?
What advice is written on the board?
What are the people doing?
What is the kid playing with?
What is the man holding?
Is the person wearing glasses?
What color is the sky?
What's the weather like in the picture?
What time does the clock show?
What landmark is this?
Which country's flag is this?
What's the name of this building?
Is there any text in the image?
Which brand does this logo belong to?
describe what you see
tell me what's in the image
list everything on the table

## cascade none
Is this {product} {material}?
Is this {product} real or fake?
Can you authenticate this {product}?
How can I tell if this {product} is {material}?
Is this {product} good quality?
Will this {product} last long?
Would this {product} make a good gift for my mom?
Is this {food} still safe to eat?
Has this {food} gone bad?
I left this {food} out overnight, can I still eat it?
How should I cook this {food}?
Is this {food} healthy?
Is this {plant} poisonous?
Can I eat this {plant}?
Why is my {plant} turning yellow?
How do I take care of this {plant}?
Is my {plant} dying? Can it be saved?
Will this {animal} bite?
Is this {animal} dangerous?
Why does my {animal} keep doing this?
How old is this {animal}?
How should I take care of this {animal}?
How do I solve this {problem}?
Solve this {problem}
What's the answer to this {problem}?
Did I get this {problem} right?
Check my work on this {problem}
Explain how to approach this {problem}
Which option is correct in this {problem}?
What's wrong with this {code}?
How do I fix this {code}?
Why does this {code} throw an error?
Can you optimize this {code}?
What will this {code} output?
Is this {code} vulnerable to injection?
Can this {obj} be repaired?
How do I fix this {obj}?
How do I use this {obj}?
What is this {obj} used for?
Is it safe to put the {obj} here?
Is this {obj} safe for kids?
Should I replace this {obj}?
How could I decorate this {place} better?
Does this {place} have any safety hazards?
Would this {place} be comfortable to live in?
What does this {chart} tell us?
Based on this {chart}, what will happen next month?
Is the trend in this {chart} normal?
What conclusions can I draw from this {chart}?
Is the conclusion of this {chart} reliable?
Is this {screen} a scam?
Is it safe to click the link in this {screen}?
What does he mean in this {screen}? Is he mad at me?
How should I reply to this {screen}?
Is this {vehicle} safe to drive?
How serious is this {vehicle} problem?
Why is my {vehicle} doing this?
Does this {vehicle} need to be replaced?
Is the info on this {doc} trustworthy?
What happens if I ignore this {doc}?
What should I do about this {doc}?
Why did this happen?
What caused this?
What should I do next?
How should I handle this?
Is this right?
Does this make sense?
What do you think?
Does this design look good?
How can I improve this {photo}?
Is this plan feasible?
Does this outfit work?
Would this haircut suit me?
Is this neighborhood safe?
Is this a good place to take kids?
Should I bring an umbrella today?
What does this symbol mean?
What do these laundry symbols mean?
What happens if I press this button?
What's the best move here?
What's the answer to this riddle?
Is this painting worth collecting?
Could this roof leak?
Is this crack in the wall serious?
Is this outlet wired correctly?
Which of these two is better?
Which one should I pick?

## direct medical
How many test results are on this {med_doc}?
What diagnosis is written on the {med_doc}?
What's the {indicator} value on this {med_doc}?
Which items on the {med_doc} are flagged?
Which hospital issued this {med_doc}?
What's the patient name on the {med_doc}?
What date was this {med_doc} done?
Whose signature is on the {med_doc}?
Read out the {med_doc} for me
What reference range is listed for {indicator} on the {med_doc}?
How many pages is the {med_doc}?
What drug name is on the {med_item}?
What does the {med_item} say about dosage?
What's the expiry date on the {med_item}?
How many tablets are in this {med_item}?
Who manufactures this {med_item}?
What's the strength printed on the {med_item}?
What color is the {med_item}?
Which body part is labeled on the {med_img}?
What date is printed on the {med_img}?
Does the {med_img} say left or right?
Where on the body is this {med_body}?
What color is the {med_body}?
How many {med_body}s are there?
How big is the {med_body} compared to the coin?
Describe the {med_body}
What temperature does the thermometer show?
What's the reading on the blood pressure monitor?
What number is on the glucose meter?

## cascade medical
Are the results on this {med_doc} normal?
My {indicator} is high, what does that mean?
Is anything wrong in this {med_doc}?
How bad is this {med_doc}?
Based on this {med_doc}, do I need medication?
Can you interpret this {med_doc}?
Is low {indicator} a concern?
Does this {med_doc} mean I have diabetes?
Do I need a follow-up based on this {med_doc}?
What does this {med_img} show is wrong?
Is there a fracture on this {med_img}?
What is that shadow on the {med_img}?
Are there any nodules on this {med_img}?
What is this {med_body}?
Is this {med_body} serious?
Should I see a doctor about this {med_body}?
How do I treat this {med_body}?
Is this {med_body} infected?
Is this {med_body} contagious?
What medicine should I use for this {med_body}?
Could this {med_body} be skin cancer?
How long will this {med_body} take to heal?
What disease is this?
What's wrong with me?
Which specialist should I see for this?
Can I take this {med_item} with {drug}?
Is this {med_item} safe during pregnancy?
Can I still take this {med_item} after the expiry date?
What is this {med_item} for?
What are the side effects of this {med_item}?
Is this {med_item} safe for kids?
What happens if I take too much of this {med_item}?
Should I take this {med_item} before or after meals?
Will this {med_item} help with my cold?
How many of these {med_item} should I take, I weigh 50 kg
My dog has this on his skin, is it a skin disease?
Is my cat's {med_body} normal?
Should I go to the ER with this temperature?
Is this blood pressure reading normal?
With this glucose reading can I eat this {food}?

## direct finance
What's the total on this {fin_doc}?
What date is on the {fin_doc}?
Which company issued this {fin_doc}?
How many line items are on the {fin_doc}?
How much tax is shown on the {fin_doc}?
What's the number of this {fin_doc}?
What's the last transaction on the {fin_doc}?
What payment method is on the {fin_doc}?
Is there a stamp on the {fin_doc}?
What are the last four digits of the account on the {fin_doc}?
What items are listed on the {fin_doc}?
Who is the payee on the {fin_doc}?
Read the amount on the {fin_doc}
When is the due date on the {fin_doc}?
What price is shown for the {asset} in the screenshot?
How much did the {asset} move today according to the screenshot?
What interest rate is written on the {fin_doc}?
What's the balance on the {fin_doc}?
What currency is the {fin_doc} in?

## cascade finance
Is the math on this {fin_doc} correct?
Add up everything on this {fin_doc} for me
How much does each person owe on this {fin_doc}?
Can I expense this {fin_doc}?
Is this {fin_doc} genuine?
Is this a fake {fin_doc}?
Is this charge on my {fin_doc} reasonable?
Did they overcharge me on this {fin_doc}?
Based on this {fin_doc}, how much can I save a month?
How is the interest on this {fin_doc} calculated?
Can you analyze this {fin_doc}?
Should I buy this {asset}?
Should I sell this {asset} now?
Will this {asset} go up or down based on the chart?
How risky is this {asset}?
Is the return on this {asset} realistic?
I have 10k, should I put it into this {asset}?
How much is this {product} worth?
What could I resell this {product} for?
Is this a good price for this {product}?
Does this {product} have collectible value?
Is this house priced fairly?
Which loan option should I pick?
How do I pay off this credit card bill with the least interest?
What's my monthly payment at this rate?
Is this insurance policy worth it?
Are the fees on this {fin_doc} too high?
Is my bonus taxed correctly here?
Is this banknote counterfeit?
Is this coin worth anything?

## direct legal
Who is the first party on this {legal_doc}?
When was this {legal_doc} signed?
What does section 3 of the {legal_doc} say?
How many pages is the {legal_doc}?
What amount is written in the {legal_doc}?
Is the {legal_doc} signed and stamped?
What's the title of the {legal_doc}?
Quote the {legal_clause} from the {legal_doc}
What address is listed for the tenant on the {legal_doc}?
What term length does the {legal_doc} state?
How much is the fine on the ticket?
What time does the ticket say the violation happened?
What speed limit does the sign show?
What does this sign prohibit?
Who signed the last page of the {legal_doc}?
Transcribe the {legal_doc}
How many parties are named in the {legal_doc}?

## cascade legal
Is this {legal_doc} favorable to me?
Are there any red flags in this {legal_doc}?
Is the {legal_clause} in this {legal_doc} legal?
Is this {legal_doc} legally binding?
What are the risks of signing this {legal_doc}?
How much would I owe if I break this {legal_doc}?
Should I sign this {legal_doc}?
Can I get out of this {legal_doc}?
Is this {legal_clause} fair?
How does the {legal_clause} affect me?
Can I {legal_act}?
Is it illegal to {legal_act}?
Can I sue them over this?
Can I contest this ticket?
Can my landlord keep my deposit for this?
Is my employer breaking labor law here?
Does this {legal_doc} need to be notarized?
What should I change in this {legal_doc}?
If I quit now, do I owe anything under this {legal_doc}?
Which clauses in this {legal_doc} work against me?
Can I use this logo without infringing a trademark?
I got this {legal_doc}, how should I respond?
Would using this photo commercially violate copyright?
"""

# Patterns added after reading held-out errors: yes/no perception questions, "what disease"
# phrasings, calculations and estimates, reading (not solving) homework.
TEMPLATES_EN_EXTRA = """
## direct none
Is there a {obj} in the picture?
Are there any {animal}s in the photo?
Is this a {animal}?
Is that a {plant}?
Is the {animal} asleep?
Is the person wearing a hat?
Does the man have a beard?
Is he wearing a suit?
Is anyone smiling in the {photo}?
Are the lights on?
Is the door closed?
Is the window open?
Is the {obj} on the table?
Is the picture black and white?
Is the {vehicle} red?
Is the plate empty?
Is it snowing in the {photo}?
Is the {place} crowded?
Does the {doc} have a date on it?
Is there a QR code on the {doc}?
Was this {photo} taken at night?
Does the {product} have a logo?
Are the two {obj}s the same color?
Is the {animal} on the left bigger than the one on the right?
What does the {problem} ask?
Copy down the {problem}
What is question 3 asking?
How many questions are on this {problem} page?
What information is given in the {problem}?
What name is written on the test?
What did the teacher write next to the {problem}?
What material does the {obj} look like it's made of?
What colors is the {animal}?
What character is this?
What symbol is on the sign?
Which way is the {vehicle} facing?
Is the screen on or off?
Are there any cars on the road?
Can you see any text on the {product}?

## cascade none
What pest is this?
What disease does my {plant} have?
Does this {plant} need more water or fertilizer?
Why did the {obj} break?
What's causing this?
What's wrong with my {vehicle}?
Is my {animal} sick?
Estimate the weight of this {obj}
About how tall is this {plant}?
Roughly how many square feet is this {place}?
What year is this {product} from?
How long will this {obj} last?
About how many calories are in this {food}?
How long would it take to walk there?
What concept is this {problem} testing?
What formula do I need for this {problem}?
Which step of this {problem} is wrong?
Calculate the answer to this {problem}
How does this {obj} work?
Who invented this {obj}?
How long do these {animal}s usually live?
What do {animal}s eat?
Is this {plant} ok as a houseplant?
What business would work well in this {place}?
What does this line on the {doc} mean for me?
What does this warning in the {screen} mean, do I need to do anything?

## direct medical
Are any results flagged on the {med_doc}?
Is the {med_doc} signed by a doctor?
Does the {med_item} list a children's dose?
Does the {med_item} packaging list contraindications?
Is the hospital name printed on the {med_img}?
Is the {med_body} red?

## cascade medical
What skin condition do I have?
What kind of rash is this?
What kind of infection is this?
What could have caused this {med_body}?
What's going on with my {med_body}?
Is this {med_body} eczema?
Is this {med_body} from a bug bite?
What illness do I have?
What does this {med_img} indicate?
Do these numbers on the {med_doc} mean I'm sick?
Is this {med_body} benign or malignant?
What is the maximum daily dose of this {med_item}?
How long after {drug} can I take this {med_item}?
What disease is this {med_body}?

## direct finance
How many expenses are on the {fin_doc}?
What's the first item on the {fin_doc}?
What's the grand total printed on the {fin_doc}?
Is there a tax ID on the {fin_doc}?
What's the merchant name on the {fin_doc}?

## cascade finance
Split the {fin_doc} evenly among three people
Convert the total on this {fin_doc} to dollars
What percentage of this {fin_doc} went to food?
What's my average daily spend on this {fin_doc}?
Am I over budget based on this {fin_doc}?
Which charges on this {fin_doc} were a waste of money?
What is this fee on the {fin_doc} for and why am I paying it?
Is this {asset} beating a savings account?
Calculate my profit or loss on this {asset}
How much would 100 shares cost at the price in the screenshot?

## direct legal
Does the {legal_doc} mention a penalty?
Is there a {legal_clause} in this {legal_doc}?
Has the other party signed the {legal_doc}?

## cascade legal
What does this sentence in the {legal_doc} mean for me?
If something goes wrong, who is liable under this {legal_clause}?
How much would it cost me to end the {legal_doc} early?
Does the signature on this {legal_doc} look forged?
## direct none
Is {person} {person_state}?
is {person} {person_state} or not
Is {thing} {thing_state}?
What {kind_direct} is this?
Which {kind_direct} is this?
What {kind_direct} is in the picture?
Can you tell me what {kind_direct} this is?

## cascade none
Is {thing} {thing_judge}?
Do you think {thing} is {thing_judge}?
Would you say {thing} is {thing_judge}?
What {kind_cascade} is this?
What kind of {kind_cascade} is this?
Is this some kind of {kind_cascade}?

## cascade finance
Is {thing} {thing_judge_fin}?
Do you think {thing} is {thing_judge_fin}?

## cascade legal
Is {thing} {thing_judge_legal}?
Do you think {thing} is {thing_judge_legal}?

## cascade medical
What {kind_cascade_med} is this?
What kind of {kind_cascade_med} do I have?
What is this on my kid's arm, some {kind_cascade_med}?
Is this a {kind_cascade_med}?
## cascade none
Find {math_task}
Calculate {math_task}
What is {math_task}?
Compute {math_task}
How do I find {math_task}?
work out {math_task} for me

## direct none
What {math_label} is labeled in the figure?
What {math_label} is given in the problem?
Which {math_label} is written next to the diagram?
"""
